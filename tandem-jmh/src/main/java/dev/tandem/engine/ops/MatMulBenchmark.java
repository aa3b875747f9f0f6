package dev.tandem.engine.ops;

import dev.tandem.engine.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.SplittableRandom;
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
 * Products of a 2048 x 2048 weight matrix (TinyLlama's attention width; 4.2 M weights, 2.2 to
 * 17 MB depending on the type) with T activation rows on one thread: {@code multiply} is the
 * engine's path by the matrix's default plan; {@code pathDots}, {@code pathRows} and
 * {@code pathBlocked} time each of {@link MatMul}'s three paths at the same token count (the
 * measurement behind the thresholds); {@code floatDot} and {@code integerDot} time the two
 * decode kernels of one row-sweep side by side (the measurement behind the integer path).
 * Report throughput as multiply-adds per second: {@code 2048 * 2048 * T / time}.
 *
 * <p>Run: {@code ./mvnw -q -B -o -pl tandem-jmh -am package -DskipTests && java -jar
 * tandem-jmh/target/benchmarks.jar MatMulBenchmark -prof gc}
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 5, time = 1)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Xmx2g", "-XX:+UseParallelGC"})
public class MatMulBenchmark {
    private static final int ROWS = 2048;
    private static final int COLS = 2048;

    @Param({"Q8_0", "Q4_0", "F32", "Q4_K", "Q6_K"})
    public String type;

    @Param({"1", "4", "8", "16", "64"})
    public int tokens;

    private Arena arena;
    private KernelPool pool;
    private MatMul matmul;
    private WeightMatrix matrix;
    private float[] x;
    private float[] out;
    private Q8Activations quantised;

    @Setup(Level.Trial)
    public void setUp() {
        GgmlType t = GgmlType.valueOf(type);
        arena = Arena.ofShared();
        long bytes = ROWS * t.bytesFor(COLS);
        MemorySegment seg = arena.allocate(bytes, 64);
        SplittableRandom rnd = new SplittableRandom(42);
        for (long i = 0; i < bytes; i++) {
            seg.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt(256));
        }
        ValueLayout.OfShort half = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        long elements = (long) ROWS * COLS;
        switch (t) {
            case F32 -> {
                for (long i = 0; i < elements; i++) {
                    seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4, (float) rnd.nextGaussian());
                }
            }
            case Q8_0, Q4_0 -> {
                for (long b = 0; b < elements / 32; b++) {
                    seg.set(half, b * t.blockBytes(), Float.floatToFloat16(0.01f));
                }
            }
            case Q4_K -> {
                for (long b = 0; b < elements / 256; b++) {
                    seg.set(half, b * 144, Float.floatToFloat16(0.01f));
                    seg.set(half, b * 144 + 2, Float.floatToFloat16(0.001f));
                }
            }
            case Q6_K -> {
                for (long b = 0; b < elements / 256; b++) {
                    seg.set(half, b * 210 + 208, Float.floatToFloat16(0.001f));
                }
            }
            default -> throw new IllegalArgumentException(type);
        }
        matrix = WeightMatrix.of(t, seg, ROWS, COLS);
        pool = new KernelPool(1);
        matmul = new MatMul(pool);
        x = new float[tokens * COLS];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        out = new float[tokens * ROWS];
        quantised = new Q8Activations();
        quantised.quantize(x, 0, 1, COLS);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
        arena.close();
    }

    @Benchmark
    public float[] multiply() {
        matmul.multiply(matrix, x, 0, tokens, out, 0);
        return out;
    }

    /** The per-token dots (integer where the type has them) at this token count. */
    @Benchmark
    public float[] pathDots() {
        matmul.multiply(matrix, x, 0, tokens, out, 0, MatMul.Path.DOTS, matrix.hasQ8Dot());
        return out;
    }

    /** The row tiles at this token count. */
    @Benchmark
    public float[] pathRows() {
        matmul.multiply(matrix, x, 0, tokens, out, 0, MatMul.Path.ROWS, false);
        return out;
    }

    /** The blocked matrix-matrix product at this token count. */
    @Benchmark
    public float[] pathBlocked() {
        matmul.multiply(matrix, x, 0, tokens, out, 0, MatMul.Path.BLOCKED, false);
        return out;
    }

    /** One decode sweep with the float kernel (dequantise in registers, multiply floats). */
    @Benchmark
    public void floatDot(Blackhole bh) {
        for (int r = 0; r < ROWS; r++) {
            bh.consume(matrix.dotVector(r, x, 0));
        }
    }

    /** One decode sweep with the integer kernel (x quantised to Q8 once); Q8_0 and Q4_0 only. */
    @Benchmark
    public void integerDot(Blackhole bh) {
        if (!matrix.hasQ8Dot()) {
            return;
        }
        for (int r = 0; r < ROWS; r++) {
            bh.consume(matrix.dotQ8(r, quantised, 0));
        }
    }
}
