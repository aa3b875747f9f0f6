package dev.tandem.engine.model;

import dev.tandem.bench.ForwardTimer;
import dev.tandem.core.KvDtype;
import dev.tandem.engine.kvcache.KvPool;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * One batched decode step of a whole model: {@code sequences} sequences of {@code context}
 * cached positions each append one token (rewritten in place, so the context stays fixed), on
 * {@code threads} kernel threads: the engine's step at that concurrency without the scheduler.
 * Aggregate decode tokens/s is {@code sequences / time}; the ratio of the 16- and 1-sequence
 * steps is what batching gains. The sequences' caches are copies of one prefilled history.
 *
 * <p>Run: {@code java -jar tandem-jmh/target/benchmarks.jar BatchedDecodeBenchmark
 * -p model=/tmp/models/tinyllama-q8_0.gguf -p sequences=1,16 -p threads=2}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g", "-XX:+UseParallelGC"})
public class BatchedDecodeBenchmark {
    private static final int PREFILL = 64;
    private static final int BLOCK = 16;

    @Param("/work/shared/models/stories260K.gguf")
    public String model;

    @Param({"1", "16"})
    public int sequences;

    @Param("1")
    public int threads;

    @Param("128")
    public int context;

    private Transformer transformer;
    private KvPool kv;
    private ForwardBatch batch;
    private float[] logits;
    private int[][] tables;
    private int[] ids;

    @Setup(Level.Trial)
    public void setUp() {
        transformer = Transformer.open(Path.of(model), Math.max(PREFILL, sequences), threads);
        int perSequence = (context + 1 + BLOCK - 1) / BLOCK;
        kv = KvPool.allocate(transformer.kvLayout(BLOCK, KvDtype.F16), perSequence * sequences);
        tables = new int[sequences][perSequence];
        for (int s = 0; s < sequences; s++) {
            for (int i = 0; i < perSequence; i++) {
                tables[s][i] = s * perSequence + i;
            }
        }
        batch = new ForwardBatch(sequences, Math.max(PREFILL, sequences));
        logits = new float[sequences * transformer.vocabSize()];
        int[] history = ForwardTimer.promptTokens(context, transformer.vocabSize(), 1, 8);
        for (int p = 0; p < context; p += PREFILL) {
            batch.clear();
            batch.add(history, p, Math.min(PREFILL, context - p), p, tables[0], false);
            transformer.forward(batch, kv, logits);
        }
        MemorySegment first = kv.blocks(0, perSequence);
        for (int s = 1; s < sequences; s++) {
            kv.blocks(s * perSequence, perSequence).copyFrom(first);
        }
        ids = ForwardTimer.promptTokens(sequences, transformer.vocabSize(), 1, 9);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kv.close();
        transformer.close();
    }

    @Benchmark
    public float[] decodeStep() {
        batch.clear();
        for (int s = 0; s < sequences; s++) {
            batch.add(ids, s, 1, context, tables[s], true);
        }
        transformer.forward(batch, kv, logits);
        return logits;
    }
}
