package dev.tandem.engine.model;

import dev.tandem.bench.ForwardTimer;
import dev.tandem.core.KvDtype;
import dev.tandem.engine.kvcache.KvPool;
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
 * One forward step of a whole model on one thread: {@code decodeStep} appends one token to a
 * sequence of {@code context} cached positions (rewritten in place, so the context stays
 * fixed), {@code prefillStep} runs a 64-token prompt chunk from position 0. With
 * {@code -prof gc}, {@code gc.alloc.rate.norm} shows the steady-state allocation per step (the
 * design goal is none).
 *
 * <p>Run: {@code ./mvnw -q -B -o -pl tandem-jmh -am package -DskipTests && java -jar
 * tandem-jmh/target/benchmarks.jar ForwardBenchmark -prof gc -p model=/work/shared/models/stories260K.gguf}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx4g", "-XX:+UseParallelGC"})
public class ForwardBenchmark {
    private static final int PREFILL = 64;

    @Param("/work/shared/models/stories260K.gguf")
    public String model;

    @Param("128")
    public int context;

    private Transformer transformer;
    private KvPool kv;
    private ForwardBatch batch;
    private float[] logits;
    private int[] table;
    private int[] prompt;
    private final int[] one = {1};

    @Setup(Level.Trial)
    public void setUp() {
        transformer = Transformer.open(Path.of(model), PREFILL, 1);
        int blocks = (Math.max(context + 1, PREFILL) + 15) / 16;
        kv = KvPool.allocate(transformer.kvLayout(16, KvDtype.F16), blocks);
        table = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            table[i] = i;
        }
        batch = new ForwardBatch(1, PREFILL);
        logits = new float[transformer.vocabSize()];
        prompt = ForwardTimer.promptTokens(PREFILL, transformer.vocabSize(), 1, 7);
        int[] history = ForwardTimer.promptTokens(context, transformer.vocabSize(), 1, 8);
        for (int p = 0; p < context; p += PREFILL) {
            batch.clear();
            batch.add(history, p, Math.min(PREFILL, context - p), p, table, false);
            transformer.forward(batch, kv, logits);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        kv.close();
        transformer.close();
    }

    @Benchmark
    public float[] decodeStep() {
        batch.clear();
        batch.add(one, 0, 1, context, table, true);
        transformer.forward(batch, kv, logits);
        return logits;
    }

    @Benchmark
    public float[] prefillStep() {
        batch.clear();
        batch.add(prompt, 0, PREFILL, 0, table, true);
        transformer.forward(batch, kv, logits);
        return logits;
    }
}
