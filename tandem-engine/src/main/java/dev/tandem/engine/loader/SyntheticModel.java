package dev.tandem.engine.loader;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufValueType;
import dev.tandem.engine.gguf.GgufWriter;
import dev.tandem.engine.gguf.Quantizer;
import dev.tandem.engine.gguf.TensorSink;
import dev.tandem.engine.gguf.TensorSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Writes a GGUF model of a given {@link ModelShape} with seeded random weights and a
 * {@link SyntheticVocab generated vocabulary}: real model shapes for speed measurements, with
 * no download (vLLM calls this a dummy load format). llama.cpp loads these files.
 *
 * <h2>Design</h2>
 * Tensors and names are llama.cpp's ({@code token_embd}, {@code blk.N.attn_q}, ...). Every
 * matrix is N(0, 0.02)-like noise stored in the chosen type, the token embedding and output
 * projection included (llama.cpp's {@code llama-quantize --pure}; its default would store the
 * output of a Q4_0 model as Q6_K: {@code outputType} Q6_K does that); 1-D tensors are F32: norms are
 * ones, biases noise, {@code rope_freqs} Llama 3's factors.
 * <p>Weights are made in chunks of {@value #CHUNK_ELEMENTS} elements, each from its own random
 * stream keyed by (seed, tensor name, chunk index), quantised block by block straight from a
 * chunk-sized float buffer: no tensor is ever materialised as floats, the output is the same for
 * any thread count, and the chunks of one tensor are made in parallel while the writer streams
 * finished ones to the file in order (at most {@code 4 x threads} chunks in flight).
 * <p>The noise is Irwin-Hall with four 16-bit uniforms from one SplitMix64 output, scaled to
 * standard deviation 0.02: bell-shaped, bounded at 3.46 sigma, and about 1 ns per element.
 *
 * <h2>Concurrency</h2>
 * {@link #write} runs on the caller's thread plus a pool of {@code threads} workers that it
 * creates and shuts down before returning.
 */
public final class SyntheticModel {
    /** Standard deviation of every random weight. */
    public static final float WEIGHT_STD = 0.02f;
    /** Elements per random chunk (a multiple of every block size: 256). */
    static final int CHUNK_ELEMENTS = 1 << 16;
    /** Standard deviation of the sum of four uniform 16-bit integers: 65536 / sqrt(3). */
    private static final double IRWIN_HALL_4_STD = 65536.0 / Math.sqrt(3.0);
    private static final int IRWIN_HALL_4_MEAN = 2 * 0xFFFF;
    /** Each worker's float buffer for one chunk. */
    private static final ThreadLocal<float[]> CHUNK_FLOATS = ThreadLocal.withInitial(() -> new float[CHUNK_ELEMENTS]);

    private SyntheticModel() {
    }

    /**
     * Writes {@code shape} with matrices of type {@code type} (F32, F16, BF16, Q8_0, Q4_0, Q4_K or Q6_K)
     * to {@code out}. {@code outputType} is the type of the output projection (of
     * {@code token_embd} when tied); null means {@code type}. An output type whose blocks do not
     * divide the model width becomes Q8_0, as in llama-quantize.
     */
    public static void write(ModelShape shape, GgmlType type, GgmlType outputType, long seed, Path out,
                             int threads, GgufWriter.Progress progress) {
        GgmlType outType = outputType == null ? type : outputType;
        for (GgmlType t : new GgmlType[] {type, outType}) {
            if (!Quantizer.supports(t)) {
                throw new ConfigException("synthetic models support F32, F16, BF16, Q8_0, Q4_0, Q4_K and Q6_K, not " + t);
            }
        }
        for (int width : new int[] {shape.embeddingLength(), shape.feedForwardLength()}) {
            if (width % type.blockSize() != 0) {
                throw new ConfigException(type + " needs rows of a multiple of " + type.blockSize()
                        + " elements; shape " + shape.name() + " has rows of " + width);
            }
        }
        if (shape.embeddingLength() % outType.blockSize() != 0) {
            // As llama-quantize does for an output projection its type cannot hold.
            outType = GgmlType.Q8_0;
        }
        if (threads < 1) {
            throw new ConfigException("threads must be at least 1, got " + threads);
        }
        GgufWriter writer = plan(shape, type, outType, seed);
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "synth-worker");
            t.setDaemon(true);
            return t;
        });
        try {
            writer.write(out, (tensor, sink) -> fill(shape, seed, tensor, sink, pool, 4 * threads), progress);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Metadata and tensor layout of the synthetic model, without any data. */
    static GgufWriter plan(ModelShape shape, GgmlType type, GgmlType outType, long seed) {
        GgufWriter w = new GgufWriter();
        String arch = shape.architecture();
        w.putString("general.architecture", arch);
        w.putString("general.type", "model");
        w.putString("general.name", "synthetic " + shape.name());
        w.putU32("general.file_type", fileType(type));
        if (type == GgmlType.Q8_0 || type == GgmlType.Q4_0 || type == GgmlType.Q4_K || type == GgmlType.Q6_K) {
            w.putU32("general.quantization_version", 2);
        }
        w.putString("tandem.synthetic.shape", shape.name());
        w.putU64("tandem.synthetic.seed", seed);
        w.putU32(arch + ".vocab_size", shape.vocabSize());
        w.putU32(arch + ".context_length", shape.contextLength());
        w.putU32(arch + ".embedding_length", shape.embeddingLength());
        w.putU32(arch + ".block_count", shape.blockCount());
        w.putU32(arch + ".feed_forward_length", shape.feedForwardLength());
        w.putU32(arch + ".rope.dimension_count", shape.headDim());
        w.putU32(arch + ".attention.head_count", shape.headCount());
        w.putU32(arch + ".attention.head_count_kv", shape.headCountKv());
        w.putF32(arch + ".attention.layer_norm_rms_epsilon", shape.rmsEpsilon());
        w.putF32(arch + ".rope.freq_base", shape.ropeFreqBase());

        SyntheticVocab vocab = SyntheticVocab.generate(shape.vocabSize());
        w.putString("tokenizer.ggml.model", "llama");
        w.putStrings("tokenizer.ggml.tokens", vocab.tokens());
        w.putF32s("tokenizer.ggml.scores", vocab.scores());
        w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, vocab.types());
        w.putU32("tokenizer.ggml.bos_token_id", SyntheticVocab.BOS_ID);
        w.putU32("tokenizer.ggml.eos_token_id", SyntheticVocab.EOS_ID);
        w.putU32("tokenizer.ggml.unknown_token_id", SyntheticVocab.UNK_ID);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);

        long d = shape.embeddingLength();
        long kv = shape.kvDim();
        long ffn = shape.feedForwardLength();
        long vocabSize = shape.vocabSize();
        if (shape.ropeScaling() != null) {
            w.addTensor("rope_freqs.weight", GgmlType.F32, shape.headDim() / 2);
        }
        w.addTensor("token_embd.weight", shape.tiedEmbeddings() ? outType : type, d, vocabSize);
        for (int i = 0; i < shape.blockCount(); i++) {
            String p = "blk." + i + ".";
            w.addTensor(p + "attn_norm.weight", GgmlType.F32, d);
            w.addTensor(p + "attn_q.weight", type, d, d);
            w.addTensor(p + "attn_k.weight", type, d, kv);
            w.addTensor(p + "attn_v.weight", type, d, kv);
            if (shape.qkvBias()) {
                w.addTensor(p + "attn_q.bias", GgmlType.F32, d);
                w.addTensor(p + "attn_k.bias", GgmlType.F32, kv);
                w.addTensor(p + "attn_v.bias", GgmlType.F32, kv);
            }
            w.addTensor(p + "attn_output.weight", type, d, d);
            w.addTensor(p + "ffn_norm.weight", GgmlType.F32, d);
            w.addTensor(p + "ffn_gate.weight", type, d, ffn);
            w.addTensor(p + "ffn_up.weight", type, d, ffn);
            w.addTensor(p + "ffn_down.weight", type, ffn, d);
        }
        w.addTensor("output_norm.weight", GgmlType.F32, d);
        if (!shape.tiedEmbeddings()) {
            w.addTensor("output.weight", outType, d, vocabSize);
        }
        return w;
    }

    /** GGUF {@code general.file_type} (llama.cpp's {@code llama_ftype}) for a model mostly of {@code type}. */
    public static int fileType(GgmlType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case Q4_K -> 15;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> throw new ConfigException("no GGUF file type for " + type);
        };
    }

    private static void fill(ModelShape shape, long seed, TensorSpec tensor, TensorSink sink, ExecutorService pool,
                             int window) throws IOException {
        String name = tensor.name();
        if (name.equals("rope_freqs.weight")) {
            writeFloats(shape.ropeFrequencyFactors(), sink);
        } else if (name.endsWith("_norm.weight")) {
            float[] ones = new float[(int) tensor.elementCount()];
            Arrays.fill(ones, 1f);
            writeFloats(ones, sink);
        } else {
            writeRandom(tensor, tensorSeed(seed, name), sink, pool, window);
        }
    }

    private static void writeFloats(float[] values, TensorSink sink) throws IOException {
        byte[] bytes = new byte[values.length * Float.BYTES];
        Quantizer.quantize(GgmlType.F32, values, 0, values.length, bytes, 0);
        sink.write(bytes, 0, bytes.length);
    }

    /** Streams the tensor's chunks in order while up to {@code window} of them are made in parallel. */
    private static void writeRandom(TensorSpec tensor, long tensorSeed, TensorSink sink, ExecutorService pool,
                                    int window) throws IOException {
        long elements = tensor.elementCount();
        long chunks = (elements + CHUNK_ELEMENTS - 1) / CHUNK_ELEMENTS;
        Deque<Future<byte[]>> inFlight = new ArrayDeque<>();
        long next = 0;
        try {
            while (next < chunks || !inFlight.isEmpty()) {
                while (next < chunks && inFlight.size() < window) {
                    long chunk = next++;
                    int count = (int) Math.min(CHUNK_ELEMENTS, elements - chunk * CHUNK_ELEMENTS);
                    inFlight.add(pool.submit(() -> randomChunk(tensor.type(), tensorSeed, chunk, count)));
                }
                byte[] bytes = inFlight.removeFirst().get();
                sink.write(bytes, 0, bytes.length);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while generating " + tensor.name(), e);
        } catch (ExecutionException e) {
            throw new TandemException("generating " + tensor.name() + " failed: " + e.getCause(), e.getCause());
        } finally {
            inFlight.forEach(f -> f.cancel(true));
        }
    }

    /** Chunk {@code chunk} of a tensor: {@code count} random floats encoded as {@code type}. */
    static byte[] randomChunk(GgmlType type, long tensorSeed, long chunk, int count) {
        float[] values = CHUNK_FLOATS.get();
        fillNoise(values, count, mix64(tensorSeed + chunk * 0x9E3779B97F4A7C15L));
        byte[] out = new byte[(int) type.bytesFor(count)];
        Quantizer.quantize(type, values, 0, count, out, 0);
        return out;
    }

    /** Fills {@code values[0..count)} with bell-shaped noise of standard deviation {@link #WEIGHT_STD}. */
    static void fillNoise(float[] values, int count, long seed) {
        float scale = (float) (WEIGHT_STD / IRWIN_HALL_4_STD);
        long state = seed;
        for (int i = 0; i < count; i++) {
            state += 0x9E3779B97F4A7C15L;
            long z = mix64(state);
            int sum = (int) (z & 0xFFFF) + (int) ((z >>> 16) & 0xFFFF) + (int) ((z >>> 32) & 0xFFFF) + (int) (z >>> 48);
            values[i] = (sum - IRWIN_HALL_4_MEAN) * scale;
        }
    }

    /** The random stream of one tensor: the seed mixed with the FNV-1a hash of its name. */
    static long tensorSeed(long seed, String name) {
        long h = 0xCBF29CE484222325L;
        for (byte b : name.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xFF)) * 0x100000001B3L;
        }
        return mix64(seed ^ h);
    }

    /** SplitMix64's finaliser (Steele, Lea, Flood 2014). */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
