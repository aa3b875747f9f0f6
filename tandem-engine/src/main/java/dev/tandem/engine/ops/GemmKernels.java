package dev.tandem.engine.ops;

import static dev.tandem.engine.ops.Simd.F;
import static dev.tandem.engine.ops.Simd.FL;

import jdk.incubator.vector.FloatVector;

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
}
