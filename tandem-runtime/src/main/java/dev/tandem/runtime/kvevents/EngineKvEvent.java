package dev.tandem.runtime.kvevents;

import java.util.Arrays;

/**
 * One KV cache event as an external engine (vLLM, SGLang) reports it, after decoding and before
 * translation into Tandem's {@link dev.tandem.core.KvEvent}s. Block identities are the engine's
 * own hashes, folded into 64-bit keys by {@link EngineBlockKeys}; they are only ever looked up,
 * never sent to the router.
 */
sealed interface EngineKvEvent
        permits EngineKvEvent.BlockStored, EngineKvEvent.BlockRemoved, EngineKvEvent.AllBlocksCleared,
        EngineKvEvent.Unknown {

    /**
     * Full blocks entered the engine's prefix cache, in prompt order; block {@code i}'s parent is
     * block {@code i-1}, block 0's parent is {@code parentKey} when {@code hasParent}.
     *
     * @param blockKeys       the engine's block hashes as keys, one per block
     * @param tokenIds        the blocks' tokens, {@code blockKeys.length * blockSizeTokens} of them
     * @param blockSizeTokens the engine's block size
     * @param indexable       false for blocks the router must not offer to plain requests: a LoRA
     *                        adapter's, those with extra hash keys (multimodal inputs, a cache
     *                        salt), and those of a KV cache group other than 0
     */
    record BlockStored(long[] blockKeys, boolean hasParent, long parentKey, int[] tokenIds, int blockSizeTokens,
                       boolean indexable) implements EngineKvEvent {
        public BlockStored {
            if (blockKeys.length == 0) {
                throw new IllegalArgumentException("BlockStored with no blocks");
            }
            if (blockSizeTokens <= 0) {
                throw new IllegalArgumentException("BlockStored block size must be positive, got " + blockSizeTokens);
            }
            if ((long) blockKeys.length * blockSizeTokens != tokenIds.length) {
                throw new IllegalArgumentException("BlockStored of " + blockKeys.length + " blocks of "
                        + blockSizeTokens + " tokens carries " + tokenIds.length + " token ids");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockStored s && hasParent == s.hasParent && parentKey == s.parentKey
                    && blockSizeTokens == s.blockSizeTokens && indexable == s.indexable
                    && Arrays.equals(blockKeys, s.blockKeys) && Arrays.equals(tokenIds, s.tokenIds);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(blockKeys) * 31 + Arrays.hashCode(tokenIds);
        }

        @Override
        public String toString() {
            return "BlockStored[blocks=" + blockKeys.length + ", blockSize=" + blockSizeTokens
                    + (hasParent ? ", parent=" + Long.toHexString(parentKey) : "") + (indexable ? "" : ", not indexable")
                    + "]";
        }
    }

    /** Blocks left the engine's cache (its hashes as keys). */
    record BlockRemoved(long[] blockKeys) implements EngineKvEvent {
        public BlockRemoved {
            if (blockKeys.length == 0) {
                throw new IllegalArgumentException("BlockRemoved with no blocks");
            }
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof BlockRemoved r && Arrays.equals(blockKeys, r.blockKeys);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(blockKeys);
        }

        @Override
        public String toString() {
            return "BlockRemoved[blocks=" + blockKeys.length + "]";
        }
    }

    /** The engine dropped every cached block (a reset). */
    record AllBlocksCleared() implements EngineKvEvent {
    }

    /**
     * An event type this decoder does not know (a newer engine's); skipped and counted, since
     * the three known types are the only ones that change which blocks are cached.
     */
    record Unknown(String type) implements EngineKvEvent {
    }
}
