package dev.tandem.core;

/**
 * Shape of one KV-cache block; two pools can exchange blocks only if their layouts are equal.
 *
 * <pre>
 * block b lives at b * blockBytes() in the pool; inside a block (all little-endian, dtype elements):
 * | layer 0: K [slot 0..blockSize)[kvHeads*headDim] | V [slot][kvHeads*headDim] | layer 1: K | V | ...
 * offset(layer, K) = layer * 2 * planeBytes()
 * offset(layer, V) = offset(layer, K) + planeBytes()
 * planeBytes()     = blockSizeTokens * kvHeads * headDim * dtype.bytes()
 * </pre>
 *
 * @param blockSizeTokens tokens per block (default 16)
 * @param layerCount      transformer layers
 * @param kvHeadCount     key/value heads per layer
 * @param headDim         elements per head
 * @param dtype           element type
 */
public record KvLayout(int blockSizeTokens, int layerCount, int kvHeadCount, int headDim, KvDtype dtype) {
    public static final int DEFAULT_BLOCK_SIZE_TOKENS = 16;

    public KvLayout {
        if (blockSizeTokens <= 0 || layerCount <= 0 || kvHeadCount <= 0 || headDim <= 0) {
            throw new IllegalArgumentException("invalid KV layout: blockSize=" + blockSizeTokens
                    + " layers=" + layerCount + " kvHeads=" + kvHeadCount + " headDim=" + headDim);
        }
        if (dtype == null) {
            throw new IllegalArgumentException("dtype is null");
        }
    }

    /** Elements of one K (or V) row: one token of one layer. */
    public int kvDim() {
        return kvHeadCount * headDim;
    }

    /** Bytes of one token's K row (or V row) in one layer. */
    public long rowBytes() {
        return (long) kvDim() * dtype.bytes();
    }

    /** Bytes of the K plane (or V plane) of one layer in one block. */
    public long planeBytes() {
        return rowBytes() * blockSizeTokens;
    }

    /** Bytes of one whole block. */
    public long blockBytes() {
        return planeBytes() * 2 * layerCount;
    }

    /** Offset of layer {@code layer}'s K plane inside a block. */
    public long keyOffset(int layer) {
        return (long) layer * 2 * planeBytes();
    }

    /** Offset of layer {@code layer}'s V plane inside a block. */
    public long valueOffset(int layer) {
        return keyOffset(layer) + planeBytes();
    }

    /** A one-line description for logs and error messages. */
    public String describe() {
        return "blockSize=" + blockSizeTokens + " layers=" + layerCount + " kvHeads=" + kvHeadCount
                + " headDim=" + headDim + " dtype=" + dtype;
    }
}
