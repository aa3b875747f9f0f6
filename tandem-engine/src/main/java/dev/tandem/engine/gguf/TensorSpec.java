package dev.tandem.engine.gguf;

import java.util.Arrays;

/**
 * A tensor planned by {@link GgufWriter}: where its data goes and how many bytes it has.
 *
 * @param name        GGUF tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param type        element type
 * @param dims        ggml order ({@code dims[0]} varies fastest), as in {@link GgufTensor#dims()}
 * @param offsetBytes offset of the data from the start of the data section (a multiple of the alignment)
 * @param sizeBytes   bytes of data, without the padding that follows it
 */
public record TensorSpec(String name, GgmlType type, long[] dims, long offsetBytes, long sizeBytes) {
    public TensorSpec {
        dims = dims.clone();
    }

    @Override
    public long[] dims() {
        return dims.clone();
    }

    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** {@code dims[0]}: the contiguous dimension (a weight matrix's input width). */
    public long cols() {
        return dims[0];
    }

    /** Product of all dimensions but the first (a weight matrix's output count). */
    public long rows() {
        return elementCount() / dims[0];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TensorSpec t && name.equals(t.name) && type == t.type && Arrays.equals(dims, t.dims)
                && offsetBytes == t.offsetBytes && sizeBytes == t.sizeBytes;
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(dims);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(dims) + " @" + offsetBytes + " (" + sizeBytes + " bytes)";
    }
}
