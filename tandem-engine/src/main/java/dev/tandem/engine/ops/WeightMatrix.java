package dev.tandem.engine.ops;

import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufTensor;
import java.lang.foreign.MemorySegment;

/**
 * A read-only view of a row-major weight matrix {@code W[rows][cols]} stored in a
 * {@link MemorySegment} (usually a slice of a memory-mapped GGUF file) in one of the ggml element
 * types. Each row is {@code cols / blockSize} whole blocks, so row {@code r} starts at byte
 * {@code r * rowBytes()}; the block layout of each type is documented above its decoder.
 *
 * <p>Two primitives make every product: {@link #dot} (one row against one activation vector,
 * the decode path, never materialising the row as floats) and {@link #dequantize} (a run of one
 * row as floats, the packing step of {@link MatMul}'s matrix-matrix path and of embedding
 * lookups). Each has a vector kernel and a scalar twin with the same semantics; the twin is the
 * test oracle and runs when {@link Simd#ENABLED} is false.
 *
 * <p>Thread ownership: immutable; safe for concurrent use while the segment is alive.
 */
public abstract sealed class WeightMatrix
        permits F32Matrix, F16Matrix, Bf16Matrix, Q8_0Matrix, Q4_0Matrix, Q4KMatrix, Q6KMatrix {
    final MemorySegment data; // rows * rowBytes bytes, row-major
    final int rows;
    final int cols;
    final long rowBytes;
    private final GgmlType type;
    /** Set once at model load (KernelTuner) before the matrix is shared with the kernel threads. */
    private KernelPlan plan;

    WeightMatrix(GgmlType type, MemorySegment data, int rows, int cols) {
        if (rows <= 0 || cols <= 0 || cols % type.blockSize() != 0) {
            throw new ModelFormatException(type + " matrix of " + rows + " x " + cols
                    + ": columns must be a positive multiple of " + type.blockSize());
        }
        this.type = type;
        this.rows = rows;
        this.cols = cols;
        this.rowBytes = type.bytesFor(cols);
        if (data.byteSize() < rows * rowBytes) {
            throw new ModelFormatException(type + " matrix of " + rows + " x " + cols + " needs " + rows * rowBytes
                    + " bytes, the tensor has " + data.byteSize());
        }
        this.data = data;
        this.plan = KernelPlan.defaultFor(this);
    }

    /** How {@link MatMul} multiplies this matrix. */
    public final KernelPlan plan() {
        return plan;
    }

    /** Sets how {@link MatMul} multiplies this matrix; call before the matrix is in use. */
    public final void usePlan(KernelPlan plan) {
        if (plan.decode() == KernelPlan.DecodeKernel.INTEGER && !hasQ8Dot()) {
            throw new IllegalArgumentException(type + " has no integer dot kernel");
        }
        this.plan = plan;
    }

    /** A view of {@code tensor} as a matrix of {@code tensor.rows()} x {@code tensor.cols()}. */
    public static WeightMatrix of(GgufTensor tensor) {
        long rows = tensor.rows();
        long cols = tensor.cols();
        if (rows > Integer.MAX_VALUE || cols > Integer.MAX_VALUE) {
            throw new ModelFormatException("tensor " + tensor.name() + " is too large: " + rows + " x " + cols);
        }
        try {
            return of(tensor.type(), tensor.data(), (int) rows, (int) cols);
        } catch (ModelFormatException e) {
            throw new ModelFormatException("tensor " + tensor.name() + ": " + e.getMessage(), e);
        }
    }

    /** A view of {@code data} as a {@code type} matrix of {@code rows} x {@code cols}. */
    public static WeightMatrix of(GgmlType type, MemorySegment data, int rows, int cols) {
        return switch (type) {
            case F32 -> new F32Matrix(data, rows, cols);
            case F16 -> new F16Matrix(data, rows, cols);
            case BF16 -> new Bf16Matrix(data, rows, cols);
            case Q8_0 -> new Q8_0Matrix(data, rows, cols);
            case Q4_0 -> new Q4_0Matrix(data, rows, cols);
            case Q4_K -> new Q4KMatrix(data, rows, cols);
            case Q6_K -> new Q6KMatrix(data, rows, cols);
            default -> throw new ModelFormatException("unsupported tensor type " + type
                    + " (supported: F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q6_K)");
        };
    }

    public final GgmlType type() {
        return type;
    }

    /** Output count. */
    public final int rows() {
        return rows;
    }

    /** Input width. */
    public final int cols() {
        return cols;
    }

    /** Bytes of one row. */
    public final long rowBytes() {
        return rowBytes;
    }

    /** Bytes of the whole matrix. */
    public final long byteSize() {
        return rows * rowBytes;
    }

    /** Elements per quantisation block (the granularity of {@link #dequantize}). */
    public final int blockSize() {
        return type.blockSize();
    }

    /** {@code W[row] . x[xOff .. xOff + cols)}. */
    public final float dot(int row, float[] x, int xOff) {
        return Simd.ENABLED ? dotVector(row, x, xOff) : dotScalar(row, x, xOff);
    }

    /**
     * {@code out[off .. off + count) = W[row][col .. col + count)}; {@code col} and
     * {@code count} are multiples of {@link #blockSize()}.
     */
    public final void dequantize(int row, int col, int count, float[] out, int off) {
        if (Simd.ENABLED) {
            dequantizeVector(row, col, count, out, off);
        } else {
            dequantizeScalar(row, col, count, out, off);
        }
    }

    /** True when {@link #dotQ8} is implemented (8-bit and 4-bit block types). */
    public boolean hasQ8Dot() {
        return false;
    }

    /**
     * {@code W[row] . x[t]} with x given as {@link Q8Activations}: integer products within each
     * 32-element block, one float multiply-add per block, as llama.cpp's
     * {@code vec_dot_q8_0_q8_0} / {@code vec_dot_q4_0_q8_0}.
     */
    public final float dotQ8(int row, Q8Activations x, int t) {
        int qOff = t * cols;
        int sOff = t * (cols / Q8Activations.BLOCK);
        return Simd.ENABLED
                ? dotQ8Vector(row, x.q, qOff, x.scales, x.sums, sOff)
                : dotQ8Scalar(row, x.q, qOff, x.scales, x.sums, sOff);
    }

    float dotQ8Vector(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        throw new UnsupportedOperationException(type + " has no integer dot product");
    }

    float dotQ8Scalar(int row, short[] q, int qOff, float[] xScales, int[] xSums, int sOff) {
        throw new UnsupportedOperationException(type + " has no integer dot product");
    }

    abstract float dotVector(int row, float[] x, int xOff);

    abstract float dotScalar(int row, float[] x, int xOff);

    abstract void dequantizeVector(int row, int col, int count, float[] out, int off);

    abstract void dequantizeScalar(int row, int col, int count, float[] out, int off);

    @Override
    public String toString() {
        return type + "[" + rows + " x " + cols + "]";
    }
}
