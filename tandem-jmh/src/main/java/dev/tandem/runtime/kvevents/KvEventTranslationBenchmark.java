package dev.tandem.runtime.kvevents;

import dev.tandem.core.KvEvent;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;

/**
 * How fast a worker turns vLLM KV event batches into Tandem's events: MessagePack decoding
 * ({@link VllmEventDecoder}) and translation ({@link KvEventTranslator}: Tandem's block hashes
 * from the token ids, the engine-hash map, numbering), without the socket.
 *
 * <p>Each batch is what vLLM sends for one scheduler step of a busy server: one
 * {@code BlockStored} of 4 blocks of 16 tokens (a new prompt's full blocks, positional form,
 * 64-bit hashes) and one {@code BlockRemoved} of the 4 blocks stored 512 batches earlier, so the
 * translator holds about 2,048 blocks in steady state. One operation is one batch (two engine
 * events, 8 blocks).
 *
 * <p>Run (results in docs/benchmarks.md, section KV events from vLLM):
 * <pre>
 * ./mvnw -q -B -pl tandem-jmh -am package -DskipTests
 * java -jar tandem-jmh/target/benchmarks.jar KvEventTranslationBenchmark
 * </pre>
 */
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@State(Scope.Thread)
public class KvEventTranslationBenchmark {
    static final int BATCHES = 1_024;
    static final int BLOCKS_PER_STORE = 4;
    static final int BLOCK_TOKENS = 16;
    static final int REMOVE_LAG = 512;

    private byte[][] payloads;
    private KvEventTranslator translator;
    private int next;
    private Blackhole sink;

    @Setup
    public void setUp(Blackhole blackhole) {
        sink = blackhole;
        SplittableRandom random = new SplittableRandom(42);
        payloads = new byte[BATCHES][];
        for (int b = 0; b < BATCHES; b++) {
            payloads[b] = batch(b, random);
        }
        translator = new KvEventTranslator("bench", BLOCK_TOKENS, 1 << 16);
        translator.subscribe(this::consume);
    }

    private void consume(KvEvent event) {
        sink.consume(event);
    }

    private static byte[] batch(int b, SplittableRandom random) {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(2).packDouble(1.0).packArrayHeader(2);
            p.packArrayHeader(7).packString("BlockStored").packArrayHeader(BLOCKS_PER_STORE);
            for (int i = 0; i < BLOCKS_PER_STORE; i++) {
                p.packLong(hash(b, i));
            }
            p.packNil().packArrayHeader(BLOCKS_PER_STORE * BLOCK_TOKENS);
            for (int t = 0; t < BLOCKS_PER_STORE * BLOCK_TOKENS; t++) {
                p.packInt(random.nextInt(128_000));
            }
            p.packInt(BLOCK_TOKENS).packNil().packString("GPU");
            int old = Math.floorMod(b - REMOVE_LAG, BATCHES);
            p.packArrayHeader(3).packString("BlockRemoved").packArrayHeader(BLOCKS_PER_STORE);
            for (int i = 0; i < BLOCKS_PER_STORE; i++) {
                p.packLong(hash(old, i));
            }
            p.packString("GPU");
            return p.toByteArray();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static long hash(int batch, int block) {
        return 0x9E37_79B9_7F4A_7C15L * (batch * 8L + block + 1);
    }

    /** Decode one batch and translate its events. */
    @Benchmark
    public void decodeAndTranslate() {
        byte[] payload = payloads[next];
        next = (next + 1) % BATCHES;
        for (EngineKvEvent e : VllmEventDecoder.decode(payload).events()) {
            translator.apply(e);
        }
    }

    /** Decoding alone. */
    @Benchmark
    public Object decode() {
        byte[] payload = payloads[next];
        next = (next + 1) % BATCHES;
        return VllmEventDecoder.decode(payload);
    }
}
