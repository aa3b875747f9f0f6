package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.GemmKernels.MR;

/**
 * {@code out[t][r] = sum_k W[r][k] * x[t][k]} for T tokens, on a {@link KernelPool}, with
 * preallocated scratch: no allocation per call once the scratch has grown to the largest shape.
 *
 * <pre>
 * Design
 *   Shapes: x = [T][K] floats, out = [T][N] floats, W = [N][K] in any WeightMatrix type.
 *   Three paths, by the matrix's plan (KernelPlan): dots below rowsMinTokens, row tiles from
 *   there, the blocked product from gemmMinTokens.
 *   Dots (decode, one token): each output is one fused dot product that never materialises a
 *     row; for T &gt; 1 the row stays in L1 between its tokens, so every weight byte comes
 *     from memory once per call. Block types with an integer kernel (Q8_0, Q4_0, Q4_K, Q6_K)
 *     may use integer dot products against x quantised once per call to Q8 (Q8Activations),
 *     as llama.cpp does; the others multiply floats (W.dot).
 *   Row tiles (small batches, a few decoding sequences): each worker dequantises four rows
 *     (with 32 vector registers, AVX-512) or two at a time into its own buffer (4 x K floats,
 *     in L1/L2), once for all T tokens, and runs GemmKernels.rows4x4 / rows2x4 over groups of
 *     four tokens (vectors along k, no token padding, no packing of x); a last group of fewer
 *     than four tokens takes one float dot per output.
 *   Blocked (prefill, larger batches): a blocked matrix-matrix product.
 *     1. The caller packs x into token-group panels: group g of NR = 2 FL tokens is
 *        xp[g] = [K][NR] (a last group of FL tokens when tp is an odd number of vectors;
 *        tp = T rounded up to the vector length, padding zeroed).
 *     2. Each worker owns a slice of rows (a multiple of MR). For each k-chunk of kc columns
 *        (chosen so that the xt chunk, kc * tp floats, stays in L2) and each block of MR rows
 *        it dequantises the block's kc weights once into its panel ([MR][kc], in L1), then runs
 *        GemmKernels tiles over all token groups, accumulating into yt = [N][tp].
 *     3. Each chunk transposes its rows of yt into out.
 *     Each weight is therefore read and dequantised once per call for all T tokens.
 *   Products smaller than PARALLEL_MIN_MACS run on the calling thread alone.
 * Invariants
 *   xt and yt are only read/written inside one call; chunks write disjoint rows of yt and out.
 * Concurrency
 *   Owned by one thread (the engine's step thread); the pool runs {@link #run} on its workers.
 *   Call parameters are plain fields published by the pool's generation bump.
 * References
 *   llama.cpp computes prompts with the same "dequantise a tile, reuse it for many tokens"
 *   shape (ggml's mul_mat with src1 batches, and llamafile's tinyBLAS tiles).
 * </pre>
 */
public final class MatMul implements KernelPool.Task {
    /** Token count from which the blocked matrix-matrix path runs unless the matrix's plan says otherwise. */
    public static final int GEMM_MIN_TOKENS = 4;
    /** Row tiles four rows at a time (GemmKernels.rows4x4: 21 vector registers), where the CPU has 32 (AVX-512). */
    private static final boolean QUADS = Simd.ENABLED && Simd.FL >= 16;
    /** Token count from which row tiles run unless the matrix's plan says otherwise. */
    public static final int ROWS_MIN_TOKENS = 2;
    /** Products with fewer multiply-adds than this run single-threaded (a barrier costs about 2 us). */
    static final long PARALLEL_MIN_MACS = 1L << 17;
    /** Target size of one xt k-chunk, floats (256 KiB: half of this machine's 512 KiB L2). */
    private static final int XT_CHUNK_FLOATS = 64 * 1024;
    /** Largest k-chunk, columns (6 rows x 1024 floats = 24 KiB panel, inside a 32 KiB L1). */
    private static final int MAX_KC = 1024;
    /** Smallest k-chunk: a multiple of every block size (256 for the K-quants). */
    private static final int MIN_KC = 256;

    private final KernelPool pool;
    private final float[][] panels; // [worker] -> [MR][kc] dequantised weights of one row block
    private final float[][] rowBuffers; // [worker] -> [4][K] dequantised weights of up to four rows (row tiles)
    private float[] xt = new float[0]; // token-group panels [group][K][width] of x, grown on demand
    private float[] yt = new float[0]; // [N][tp] transposed outputs, grown on demand
    private final Q8Activations xq = new Q8Activations(); // x quantised (decode path, 8/4-bit weights)

    // The current call (written by the caller before pool.run, read by workers).
    private WeightMatrix w;
    private float[] x;
    private int xOff;
    private int tokens;
    private float[] out;
    private int outOff;
    private Path path;
    private boolean integer;
    private int tp;
    private int kc;
    private int rowsPerChunk;

    public MatMul(KernelPool pool) {
        this.pool = pool;
        this.panels = new float[pool.threadCount()][];
        this.rowBuffers = new float[pool.threadCount()][];
    }

    /** How one call computes its outputs (see the design notes). */
    enum Path {
        DOTS, ROWS, BLOCKED
    }

    public KernelPool pool() {
        return pool;
    }

    /**
     * {@code out[outOff + t*N + r] = W[r] . x[xOff + t*K ..]} for t in 0..tokens, r in 0..N, by
     * the matrix's {@link WeightMatrix#plan() plan}.
     */
    public void multiply(WeightMatrix w, float[] x, int xOff, int tokens, float[] out, int outOff) {
        KernelPlan plan = w.plan();
        Path p = tokens >= plan.gemmMinTokens() ? Path.BLOCKED : tokens >= plan.rowsMinTokens() ? Path.ROWS : Path.DOTS;
        multiply(w, x, xOff, tokens, out, outOff, p, p == Path.DOTS && plan.decode() == KernelPlan.DecodeKernel.INTEGER);
    }

    /** As {@link #multiply(WeightMatrix, float[], int, int, float[], int)} on a path the caller picks (KernelTuner). */
    void multiply(WeightMatrix w, float[] x, int xOff, int tokens, float[] out, int outOff, Path path,
                  boolean integerDot) {
        int rows = w.rows();
        int cols = w.cols();
        if (tokens <= 0 || xOff < 0 || outOff < 0 || xOff + (long) tokens * cols > x.length
                || outOff + (long) tokens * rows > out.length) {
            throw new IllegalArgumentException("multiply " + w + " with " + tokens + " tokens: x has " + x.length
                    + " floats from " + xOff + ", out has " + out.length + " from " + outOff);
        }
        this.w = w;
        this.x = x;
        this.xOff = xOff;
        this.tokens = tokens;
        this.out = out;
        this.outOff = outOff;
        this.path = path;
        boolean blocked = path == Path.BLOCKED;
        if (blocked) {
            tp = (tokens + Simd.FL - 1) / Simd.FL * Simd.FL;
            kc = Math.min(cols, Math.clamp(XT_CHUNK_FLOATS / tp / MIN_KC * MIN_KC, MIN_KC, MAX_KC));
            if (xt.length < cols * tp) {
                xt = new float[cols * tp];
            }
            if (yt.length < rows * tp) {
                yt = new float[rows * tp];
            }
            transposeIn(x, xOff, tokens, cols, xt, tp);
        }
        this.integer = integerDot && path == Path.DOTS;
        if (integer) {
            xq.quantize(x, xOff, tokens, cols);
        }
        boolean parallel = (long) rows * cols * tokens >= PARALLEL_MIN_MACS && pool.threadCount() > 1;
        int threads = pool.threadCount();
        if (!parallel) {
            rowsPerChunk = rows;
        } else if (blocked) {
            // about 4 chunks per thread, whole MR-row blocks: a descheduled worker costs one chunk
            rowsPerChunk = Math.max(4 * MR, ((rows + 4 * threads - 1) / (4 * threads) + MR - 1) / MR * MR);
        } else {
            rowsPerChunk = Math.max(16, (rows + 8 * threads - 1) / (8 * threads));
            rowsPerChunk = (rowsPerChunk + 3) / 4 * 4; // row tiles take rows in fours or pairs
        }
        pool.run(this, (rows + rowsPerChunk - 1) / rowsPerChunk, parallel);
        this.x = null;
        this.out = null;
        this.w = null;
    }

    /** One chunk: rows chunk * rowsPerChunk .. of the current call. */
    @Override
    public void run(int worker, int chunk) {
        int r0 = chunk * rowsPerChunk;
        int r1 = Math.min(w.rows(), r0 + rowsPerChunk);
        switch (path) {
            case BLOCKED -> {
                blockedRows(worker, r0, r1);
                transposeOut(r0, r1);
            }
            case ROWS -> tiledRows(worker, r0, r1);
            case DOTS -> dotRows(r0, r1);
        }
    }

    /** Row-tile path for rows r0..r1: four (or two) rows dequantised at a time, each group against all tokens. */
    private void tiledRows(int worker, int r0, int r1) {
        WeightMatrix m = w;
        int rows = m.rows();
        int cols = m.cols();
        float[] buf = rowBuffers[worker];
        if (buf == null || buf.length < 4 * cols) {
            buf = new float[4 * cols];
            rowBuffers[worker] = buf;
        }
        float[] in = x;
        float[] o = out;
        int groups = tokens / 4 * 4;
        int r = r0;
        if (QUADS) {
            for (; r + 3 < r1 && groups > 0; r += 4) {
                for (int i = 0; i < 4; i++) {
                    m.dequantize(r + i, 0, cols, buf, i * cols);
                }
                int t = 0;
                for (; t < groups; t += 4) {
                    GemmKernels.rows4x4(buf, 0, cols, cols, in, xOff + t * cols, cols, o, outOff + t * rows + r, rows);
                }
                for (; t < tokens; t++) {
                    for (int i = 0; i < 4; i++) {
                        o[outOff + t * rows + r + i] = FloatOps.dot(buf, i * cols, in, xOff + t * cols, cols);
                    }
                }
            }
        }
        for (; r + 1 < r1; r += 2) {
            m.dequantize(r, 0, cols, buf, 0);
            m.dequantize(r + 1, 0, cols, buf, cols);
            int t = 0;
            for (; t < groups; t += 4) {
                int xo = xOff + t * cols;
                int yo = outOff + t * rows + r;
                if (Simd.ENABLED) {
                    GemmKernels.rows2x4(buf, 0, cols, cols, in, xo, cols, o, yo, rows);
                } else {
                    GemmKernels.rows2x4Scalar(buf, 0, cols, cols, in, xo, cols, o, yo, rows);
                }
            }
            for (; t < tokens; t++) {
                o[outOff + t * rows + r] = FloatOps.dot(buf, 0, in, xOff + t * cols, cols);
                o[outOff + t * rows + r + 1] = FloatOps.dot(buf, cols, in, xOff + t * cols, cols);
            }
        }
        if (r < r1) {
            m.dequantize(r, 0, cols, buf, 0);
            for (int t = 0; t < tokens; t++) {
                o[outOff + t * rows + r] = FloatOps.dot(buf, 0, in, xOff + t * cols, cols);
            }
        }
    }

    /** Decode path: rows r0..r1 for every token, one fused dot product each (the row stays in L1 for all tokens). */
    private void dotRows(int r0, int r1) {
        WeightMatrix m = w;
        float[] in = x;
        float[] o = out;
        int rows = m.rows();
        int cols = m.cols();
        if (integer) {
            Q8Activations q = xq;
            for (int r = r0; r < r1; r++) {
                for (int t = 0; t < tokens; t++) {
                    o[outOff + t * rows + r] = m.dotQ8(r, q, t);
                }
            }
            return;
        }
        for (int r = r0; r < r1; r++) {
            for (int t = 0; t < tokens; t++) {
                o[outOff + t * rows + r] = m.dot(r, in, xOff + t * cols);
            }
        }
    }

    /** Matrix-matrix path for rows r0..r1 (see the design notes). */
    private void blockedRows(int worker, int r0, int r1) {
        WeightMatrix m = w;
        int cols = m.cols();
        float[] panel = panels[worker];
        if (panel == null || panel.length < MR * kc) {
            panel = new float[MR * kc];
            panels[worker] = panel;
        }
        float[] xp = xt;
        float[] ytLocal = yt;
        int tpLocal = tp;
        int nr = 2 * Simd.FL;
        int fullGroups = tpLocal / nr;
        int tailBase = fullGroups * cols * nr;
        boolean tail = tpLocal % nr != 0;
        for (int k0 = 0; k0 < cols; k0 += kc) {
            int kLen = Math.min(kc, cols - k0);
            boolean accumulate = k0 > 0;
            for (int rb = r0; rb < r1; rb += MR) {
                int mr = Math.min(MR, r1 - rb);
                for (int i = 0; i < mr; i++) {
                    m.dequantize(rb + i, k0, kLen, panel, i * kLen);
                }
                int ytRow = rb * tpLocal;
                for (int g = 0; g < fullGroups; g++) {
                    int xo = g * cols * nr + k0 * nr;
                    int yo = ytRow + g * nr;
                    if (!Simd.ENABLED) {
                        GemmKernels.tileScalar(panel, kLen, mr, xp, xo, nr, tpLocal, ytLocal, yo, accumulate);
                    } else if (mr == MR) {
                        GemmKernels.tile6x2(panel, kLen, xp, xo, tpLocal, ytLocal, yo, accumulate);
                    } else {
                        for (int i = 0; i < mr; i++) {
                            GemmKernels.tile1x1(panel, i * kLen, kLen, xp, xo, nr, ytLocal, yo + i * tpLocal, accumulate);
                            GemmKernels.tile1x1(panel, i * kLen, kLen, xp, xo + Simd.FL, nr, ytLocal,
                                    yo + i * tpLocal + Simd.FL, accumulate);
                        }
                    }
                }
                if (tail) {
                    int xo = tailBase + k0 * Simd.FL;
                    int yo = ytRow + fullGroups * nr;
                    if (!Simd.ENABLED) {
                        GemmKernels.tileScalar(panel, kLen, mr, xp, xo, Simd.FL, tpLocal, ytLocal, yo, accumulate);
                    } else if (mr == MR) {
                        GemmKernels.tile6x1(panel, kLen, xp, xo, tpLocal, ytLocal, yo, accumulate);
                    } else {
                        for (int i = 0; i < mr; i++) {
                            GemmKernels.tile1x1(panel, i * kLen, kLen, xp, xo, Simd.FL, ytLocal, yo + i * tpLocal, accumulate);
                        }
                    }
                }
            }
        }
    }

    /**
     * Packs x[t][k] into token-group panels: token t of full group g = t / NR at
     * xp[g*cols*NR + k*NR + t%NR]; tokens of the last FL-wide group at
     * xp[fullGroups*cols*NR + k*FL + (t - fullGroups*NR)]. Padding tokens are zero.
     */
    private static void transposeIn(float[] x, int xOff, int tokens, int cols, float[] xp, int tp) {
        int nr = 2 * Simd.FL;
        int fullGroups = tp / nr;
        for (int t = 0; t < tp; t++) {
            int g = t / nr;
            int base;
            int width;
            if (g < fullGroups) {
                base = g * cols * nr + t % nr;
                width = nr;
            } else {
                base = fullGroups * cols * nr + (t - fullGroups * nr);
                width = Simd.FL;
            }
            if (t < tokens) {
                int src = xOff + t * cols;
                for (int k = 0; k < cols; k++) {
                    xp[base + k * width] = x[src + k];
                }
            } else {
                for (int k = 0; k < cols; k++) {
                    xp[base + k * width] = 0f;
                }
            }
        }
    }

    /** out[outOff + t*rows + r] = yt[r*tp + t] for this worker's rows. */
    private void transposeOut(int r0, int r1) {
        int rows = w.rows();
        float[] o = out;
        float[] ytLocal = yt;
        for (int t = 0; t < tokens; t++) {
            int dst = outOff + t * rows;
            for (int r = r0; r < r1; r++) {
                o[dst + r] = ytLocal[r * tp + t];
            }
        }
    }
}
