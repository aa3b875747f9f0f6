package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Register-blocked micro-kernels of the matrix-matrix product, in transposed space:
 * {@code Yt[r][t] (+)= sum_k W[r][k] * Xt[k][t]}.
 *
 * <pre>
 * Design
 *   Shapes (floats):  w  = [MR rows][kc]        row-major, dequantised weights of one k-chunk
 *                     xp = [kc][width]          one token group's activations, packed (width =
 *                                               2 FL tokens, or FL for the last group)
 *                     yt = [rows][tp]           output transposed, tp = tokens padded to FL
 *   One call computes an MR x (2 FL) tile (6 rows x 16 tokens with 256-bit vectors): per k it
 *   loads two token vectors of xp, broadcasts the 6 weights w[r][k] and issues 12 FMAs into
 *   12 accumulators (12 + 2 + 1 = 15 of AVX2's 16 vector registers). Vectors run along tokens,
 *   so there is no horizontal reduction and weights need no transposition. The packed panel
 *   gives xp a constant stride, so C2 hoists its bounds checks out of the k loop (with the
 *   transposed [kc][tp] layout it could not: the prefill profile spent most samples there).
 *   Every output is a sequential FMA chain over k (y = fma(w[k], x[k], y), k ascending,
 *   continued across k-chunks through yt), so the result does not depend on tiling, thread
 *   count or token padding, and the scalar twins give bit-identical results.
 * Invariants
 *   tp is a multiple of FL; xp panels are 2 FL or FL wide; w holds MR rows of kc floats.
 * Concurrency
 *   Stateless; callers give each thread its own w and disjoint yt rows.
 * References
 *   The broadcast-FMA outer-product micro-kernel is the BLIS/GotoBLAS design (Goto and van de
 *   Geijn, "Anatomy of High-Performance Matrix Multiplication", 2008), here with the roles of
 *   the two operands chosen so that quantised weights dequantise row-major.
 * </pre>
 */
final class GemmKernels {
    /** Rows per micro-tile. */
    static final int MR = 6;

    private GemmKernels() {
    }

    /**
     * The 6 x (2 FL) tile: {@code yt[ytOff + r*tp + j] (+)= sum_k w[r*kc + k] * xp[xpOff + k*2FL + j]}
     * for r in 0..5, j in 0..2FL.
     */
    static void tile6x2(float[] w, int kc, float[] xp, int xpOff, int tp, float[] yt, int ytOff, boolean accumulate) {
        FloatVector c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
        int y0 = ytOff;
        int y1 = y0 + tp;
        int y2 = y1 + tp;
        int y3 = y2 + tp;
        int y4 = y3 + tp;
        int y5 = y4 + tp;
        if (accumulate) {
            c00 = FloatVector.fromArray(F, yt, y0);
            c01 = FloatVector.fromArray(F, yt, y0 + FL);
            c10 = FloatVector.fromArray(F, yt, y1);
            c11 = FloatVector.fromArray(F, yt, y1 + FL);
            c20 = FloatVector.fromArray(F, yt, y2);
            c21 = FloatVector.fromArray(F, yt, y2 + FL);
            c30 = FloatVector.fromArray(F, yt, y3);
            c31 = FloatVector.fromArray(F, yt, y3 + FL);
            c40 = FloatVector.fromArray(F, yt, y4);
            c41 = FloatVector.fromArray(F, yt, y4 + FL);
            c50 = FloatVector.fromArray(F, yt, y5);
            c51 = FloatVector.fromArray(F, yt, y5 + FL);
        } else {
            c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = FloatVector.zero(F);
        }
        for (int k = 0; k < kc; k++) {
            int xo = xpOff + k * (2 * FL);
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + FL);
            FloatVector b = FloatVector.broadcast(F, w[k]);
            c00 = b.fma(x0, c00);
            c01 = b.fma(x1, c01);
            b = FloatVector.broadcast(F, w[kc + k]);
            c10 = b.fma(x0, c10);
            c11 = b.fma(x1, c11);
            b = FloatVector.broadcast(F, w[2 * kc + k]);
            c20 = b.fma(x0, c20);
            c21 = b.fma(x1, c21);
            b = FloatVector.broadcast(F, w[3 * kc + k]);
            c30 = b.fma(x0, c30);
            c31 = b.fma(x1, c31);
            b = FloatVector.broadcast(F, w[4 * kc + k]);
            c40 = b.fma(x0, c40);
            c41 = b.fma(x1, c41);
            b = FloatVector.broadcast(F, w[5 * kc + k]);
            c50 = b.fma(x0, c50);
            c51 = b.fma(x1, c51);
        }
        c00.intoArray(yt, y0);
        c01.intoArray(yt, y0 + FL);
        c10.intoArray(yt, y1);
        c11.intoArray(yt, y1 + FL);
        c20.intoArray(yt, y2);
        c21.intoArray(yt, y2 + FL);
        c30.intoArray(yt, y3);
        c31.intoArray(yt, y3 + FL);
        c40.intoArray(yt, y4);
        c41.intoArray(yt, y4 + FL);
        c50.intoArray(yt, y5);
        c51.intoArray(yt, y5 + FL);
    }

    /** The 6 x FL tile (the last token group when tp is an odd number of vectors): xp is [kc][FL]. */
    static void tile6x1(float[] w, int kc, float[] xp, int xpOff, int tp, float[] yt, int ytOff, boolean accumulate) {
        FloatVector c0, c1, c2, c3, c4, c5;
        if (accumulate) {
            c0 = FloatVector.fromArray(F, yt, ytOff);
            c1 = FloatVector.fromArray(F, yt, ytOff + tp);
            c2 = FloatVector.fromArray(F, yt, ytOff + 2 * tp);
            c3 = FloatVector.fromArray(F, yt, ytOff + 3 * tp);
            c4 = FloatVector.fromArray(F, yt, ytOff + 4 * tp);
            c5 = FloatVector.fromArray(F, yt, ytOff + 5 * tp);
        } else {
            c0 = c1 = c2 = c3 = c4 = c5 = FloatVector.zero(F);
        }
        for (int k = 0; k < kc; k++) {
            FloatVector x0 = FloatVector.fromArray(F, xp, xpOff + k * FL);
            c0 = FloatVector.broadcast(F, w[k]).fma(x0, c0);
            c1 = FloatVector.broadcast(F, w[kc + k]).fma(x0, c1);
            c2 = FloatVector.broadcast(F, w[2 * kc + k]).fma(x0, c2);
            c3 = FloatVector.broadcast(F, w[3 * kc + k]).fma(x0, c3);
            c4 = FloatVector.broadcast(F, w[4 * kc + k]).fma(x0, c4);
            c5 = FloatVector.broadcast(F, w[5 * kc + k]).fma(x0, c5);
        }
        c0.intoArray(yt, ytOff);
        c1.intoArray(yt, ytOff + tp);
        c2.intoArray(yt, ytOff + 2 * tp);
        c3.intoArray(yt, ytOff + 3 * tp);
        c4.intoArray(yt, ytOff + 4 * tp);
        c5.intoArray(yt, ytOff + 5 * tp);
    }

    /** One row by FL tokens of a panel {@code width} floats wide (row remainders, fewer than MR rows). */
    static void tile1x1(float[] w, int wOff, int kc, float[] xp, int xpOff, int width, float[] yt, int ytOff,
                        boolean accumulate) {
        FloatVector c = accumulate ? FloatVector.fromArray(F, yt, ytOff) : FloatVector.zero(F);
        int xo = xpOff;
        for (int k = 0; k < kc; k++, xo += width) {
            c = FloatVector.broadcast(F, w[wOff + k]).fma(FloatVector.fromArray(F, xp, xo), c);
        }
        c.intoArray(yt, ytOff);
    }

    /**
     * Scalar twin of every tile: {@code rowCount} rows by the {@code width} tokens of one panel,
     * the same sequential FMA chain per output.
     */
    static void tileScalar(float[] w, int kc, int rowCount, float[] xp, int xpOff, int width, int tp,
                           float[] yt, int ytOff, boolean accumulate) {
        for (int r = 0; r < rowCount; r++) {
            for (int j = 0; j < width; j++) {
                float y = accumulate ? yt[ytOff + r * tp + j] : 0f;
                for (int k = 0; k < kc; k++) {
                    y = Math.fma(w[r * kc + k], xp[xpOff + k * width + j], y);
                }
                yt[ytOff + r * tp + j] = y;
            }
        }
    }
    /**
     * The row tile of small products (2 to some 16 tokens): two dequantised weight rows
     * ({@code w[w0 ..]}, {@code w[w1 ..]}, {@code n} floats each) against four activation rows
     * {@code x[xOff + t*xStride ..]}: {@code y[yOff + t*yStride + i] = w_i . x_t} for i in 0..1,
     * t in 0..3. Vectors run along k: per FL columns two weight loads and four activation loads
     * feed eight FMAs into eight accumulators, reduced once at the end; the weights are
     * dequantised once for four tokens instead of once per token (the decode dots) and no token
     * lane is padding (the blocked tiles pad T up to FL). Columns past the last whole vector are
     * added in scalar.
     */
    static void rows2x4(float[] w, int w0, int w1, int n, float[] x, int xOff, int xStride, float[] y, int yOff,
                        int yStride) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        int x1 = xOff + xStride;
        int x2 = x1 + xStride;
        int x3 = x2 + xStride;
        int k = 0;
        for (int bound = n - FL; k <= bound; k += FL) {
            FloatVector u = FloatVector.fromArray(F, w, w0 + k);
            FloatVector v = FloatVector.fromArray(F, w, w1 + k);
            FloatVector x0v = FloatVector.fromArray(F, x, xOff + k);
            a0 = u.fma(x0v, a0);
            b0 = v.fma(x0v, b0);
            FloatVector x1v = FloatVector.fromArray(F, x, x1 + k);
            a1 = u.fma(x1v, a1);
            b1 = v.fma(x1v, b1);
            FloatVector x2v = FloatVector.fromArray(F, x, x2 + k);
            a2 = u.fma(x2v, a2);
            b2 = v.fma(x2v, b2);
            FloatVector x3v = FloatVector.fromArray(F, x, x3 + k);
            a3 = u.fma(x3v, a3);
            b3 = v.fma(x3v, b3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD);
        float s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD);
        float s3 = a3.reduceLanes(VectorOperators.ADD);
        float t0 = b0.reduceLanes(VectorOperators.ADD);
        float t1 = b1.reduceLanes(VectorOperators.ADD);
        float t2 = b2.reduceLanes(VectorOperators.ADD);
        float t3 = b3.reduceLanes(VectorOperators.ADD);
        for (; k < n; k++) {
            s0 += w[w0 + k] * x[xOff + k];
            s1 += w[w0 + k] * x[x1 + k];
            s2 += w[w0 + k] * x[x2 + k];
            s3 += w[w0 + k] * x[x3 + k];
            t0 += w[w1 + k] * x[xOff + k];
            t1 += w[w1 + k] * x[x1 + k];
            t2 += w[w1 + k] * x[x2 + k];
            t3 += w[w1 + k] * x[x3 + k];
        }
        y[yOff] = s0;
        y[yOff + 1] = t0;
        y[yOff + yStride] = s1;
        y[yOff + yStride + 1] = t1;
        y[yOff + 2 * yStride] = s2;
        y[yOff + 2 * yStride + 1] = t2;
        y[yOff + 3 * yStride] = s3;
        y[yOff + 3 * yStride + 1] = t3;
    }

    /** Scalar twin of {@link #rows2x4}: the same outputs, each a sequential sum over k. */
    static void rows2x4Scalar(float[] w, int w0, int w1, int n, float[] x, int xOff, int xStride, float[] y, int yOff,
                              int yStride) {
        for (int t = 0; t < 4; t++) {
            y[yOff + t * yStride] = FloatOps.dotScalar(w, w0, x, xOff + t * xStride, n);
            y[yOff + t * yStride + 1] = FloatOps.dotScalar(w, w1, x, xOff + t * xStride, n);
        }
    }
    /**
     * Four rows by four tokens, as {@link #rows2x4} with rows at {@code w0 + i*wStride}: sixteen
     * accumulators, so each activation load feeds four FMAs (for CPUs with 32 vector registers:
     * 16 accumulators, 4 weight vectors and an activation vector).
     */
    static void rows4x4(float[] w, int w0, int wStride, int n, float[] x, int xOff, int xStride, float[] y, int yOff,
                        int yStride) {
        FloatVector a0 = FloatVector.zero(F);
        FloatVector a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
        FloatVector c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
        int w1 = w0 + wStride;
        int w2 = w1 + wStride;
        int w3 = w2 + wStride;
        int x1 = xOff + xStride;
        int x2 = x1 + xStride;
        int x3 = x2 + xStride;
        int k = 0;
        for (int bound = n - FL; k <= bound; k += FL) {
            FloatVector u0 = FloatVector.fromArray(F, w, w0 + k);
            FloatVector u1 = FloatVector.fromArray(F, w, w1 + k);
            FloatVector u2 = FloatVector.fromArray(F, w, w2 + k);
            FloatVector u3 = FloatVector.fromArray(F, w, w3 + k);
            FloatVector v = FloatVector.fromArray(F, x, xOff + k);
            a0 = u0.fma(v, a0);
            b0 = u1.fma(v, b0);
            c0 = u2.fma(v, c0);
            d0 = u3.fma(v, d0);
            v = FloatVector.fromArray(F, x, x1 + k);
            a1 = u0.fma(v, a1);
            b1 = u1.fma(v, b1);
            c1 = u2.fma(v, c1);
            d1 = u3.fma(v, d1);
            v = FloatVector.fromArray(F, x, x2 + k);
            a2 = u0.fma(v, a2);
            b2 = u1.fma(v, b2);
            c2 = u2.fma(v, c2);
            d2 = u3.fma(v, d2);
            v = FloatVector.fromArray(F, x, x3 + k);
            a3 = u0.fma(v, a3);
            b3 = u1.fma(v, b3);
            c3 = u2.fma(v, c3);
            d3 = u3.fma(v, d3);
        }
        int y1 = yOff + yStride;
        int y2 = y1 + yStride;
        int y3 = y2 + yStride;
        y[yOff] = a0.reduceLanes(VectorOperators.ADD) + tail(w, w0, x, xOff, k, n);
        y[yOff + 1] = b0.reduceLanes(VectorOperators.ADD) + tail(w, w1, x, xOff, k, n);
        y[yOff + 2] = c0.reduceLanes(VectorOperators.ADD) + tail(w, w2, x, xOff, k, n);
        y[yOff + 3] = d0.reduceLanes(VectorOperators.ADD) + tail(w, w3, x, xOff, k, n);
        y[y1] = a1.reduceLanes(VectorOperators.ADD) + tail(w, w0, x, x1, k, n);
        y[y1 + 1] = b1.reduceLanes(VectorOperators.ADD) + tail(w, w1, x, x1, k, n);
        y[y1 + 2] = c1.reduceLanes(VectorOperators.ADD) + tail(w, w2, x, x1, k, n);
        y[y1 + 3] = d1.reduceLanes(VectorOperators.ADD) + tail(w, w3, x, x1, k, n);
        y[y2] = a2.reduceLanes(VectorOperators.ADD) + tail(w, w0, x, x2, k, n);
        y[y2 + 1] = b2.reduceLanes(VectorOperators.ADD) + tail(w, w1, x, x2, k, n);
        y[y2 + 2] = c2.reduceLanes(VectorOperators.ADD) + tail(w, w2, x, x2, k, n);
        y[y2 + 3] = d2.reduceLanes(VectorOperators.ADD) + tail(w, w3, x, x2, k, n);
        y[y3] = a3.reduceLanes(VectorOperators.ADD) + tail(w, w0, x, x3, k, n);
        y[y3 + 1] = b3.reduceLanes(VectorOperators.ADD) + tail(w, w1, x, x3, k, n);
        y[y3 + 2] = c3.reduceLanes(VectorOperators.ADD) + tail(w, w2, x, x3, k, n);
        y[y3 + 3] = d3.reduceLanes(VectorOperators.ADD) + tail(w, w3, x, x3, k, n);
    }

    /** {@code sum of w[wi + j] * x[xi + j]} for j in from..n (the columns after the last whole vector). */
    private static float tail(float[] w, int wi, float[] x, int xi, int from, int n) {
        float s = 0f;
        for (int j = from; j < n; j++) {
            s += w[wi + j] * x[xi + j];
        }
        return s;
    }

    /** Scalar twin of {@link #rows4x4}. */
    static void rows4x4Scalar(float[] w, int w0, int wStride, int n, float[] x, int xOff, int xStride, float[] y,
                              int yOff, int yStride) {
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < 4; i++) {
                y[yOff + t * yStride + i] = FloatOps.dotScalar(w, w0 + i * wStride, x, xOff + t * xStride, n);
            }
        }
    }
}
