package dev.tandem.engine.tokenizer;

import dev.tandem.engine.gguf.GgufFile;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * Tokenizer costs: loading a vocabulary (from an already opened GGUF file, and including the
 * GGUF open that decodes the metadata strings), encoding prose, and streaming decode per token.
 *
 * <p>Run: {@code ./mvnw -q -B -o -pl tandem-jmh -am package -DskipTests && java -jar
 * tandem-jmh/target/benchmarks.jar TokenizerBenchmark -p models=/work/shared/models}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 5, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g"})
public class TokenizerBenchmark {
    private static final String PROSE = "The lighthouse keeper had kept the same routine for thirty-one years. Every "
            + "evening, a little before sunset, he climbed the hundred and twelve iron steps, wiped the salt from the "
            + "great lens with a soft cloth, trimmed the wick, and wrote three lines in the logbook: the time, the "
            + "weather, and the ships he had seen. 我想在apple工作1314151天～ 😀 don't I'm WE'LL 3.14159\n";

    @Param({"qwen2-vocab-tiny.gguf", "gpt2-vocab-tiny.gguf", "stories260K.gguf"})
    public String model;

    @Param("/work/shared/models")
    public String models;

    private GgufFile gguf;
    private Tokenizer tokenizer;
    private String text;
    private int[] ids;

    @Setup(Level.Trial)
    public void setUp() {
        gguf = GgufFile.open(Path.of(models, model));
        tokenizer = Tokenizer.fromGguf(gguf);
        text = PROSE.repeat(8); // 3,024 bytes; 816 Qwen2 tokens
        ids = tokenizer.encode(text, false, false);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        gguf.close();
    }

    /** Vocabulary, merges, special tokens and piece table from an open GGUF file. */
    @Benchmark
    public Tokenizer loadFromOpenFile() {
        return Tokenizer.fromGguf(gguf);
    }

    /** Opening the GGUF file (its metadata strings decoded) plus loading the tokenizer. */
    @Benchmark
    public int openAndLoad() {
        try (GgufFile file = GgufFile.open(Path.of(models, model))) {
            return Tokenizer.fromGguf(file).vocabSize();
        }
    }

    /** Encoding 3 KiB of mixed prose; divide by the token count for per-token cost. */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public int[] encodeProse() {
        return tokenizer.encode(text, false, false);
    }

    /** Streaming decode of the same text's tokens, one at a time. */
    @Benchmark
    @OutputTimeUnit(TimeUnit.MICROSECONDS)
    public void streamDecodeProse(Blackhole bh) {
        StreamDecoder decoder = tokenizer.newStreamDecoder(false);
        for (int id : ids) {
            bh.consume(decoder.next(id));
        }
        bh.consume(decoder.finish());
    }
}
