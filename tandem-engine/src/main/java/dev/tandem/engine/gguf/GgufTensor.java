package dev.tandem.engine.gguf;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a GGUF file: a view of its bytes in the mapped file.
 *
 * @param name   GGUF tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param type   element type
 * @param dims   ggml order: {@code dims[0]} varies fastest. A weight matrix with {@code rows}
 *               outputs and {@code cols} inputs has {@code dims = [cols, rows]}.
 * @param offset byte offset of the data from the start of the data section
 * @param data   the tensor's bytes (a slice of the mapped file)
 */
public record GgufTensor(String name, GgmlType type, long[] dims, long offset, MemorySegment data) {

    public long elementCount() {
        long n = 1;
        for (long d : dims) {
            n *= d;
        }
        return n;
    }

    /** {@code dims[0]}: the innermost (contiguous) dimension, the input width of a weight matrix. */
    public long cols() {
        return dims[0];
    }

    /** Product of all dimensions but the first: the output count of a weight matrix. */
    public long rows() {
        return elementCount() / dims[0];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensor t && name.equals(t.name) && type == t.type
                && Arrays.equals(dims, t.dims) && offset == t.offset;
    }

    @Override
    public int hashCode() {
        return name.hashCode();
    }

    @Override
    public String toString() {
        return name + " " + type + " " + Arrays.toString(dims);
    }
}
