package dev.tandem.runtime.kvevents;

import dev.tandem.core.BlockHasher;
import java.nio.charset.StandardCharsets;

/**
 * Folds an engine's block hash into one 64-bit lookup key.
 *
 * <h2>Design</h2>
 * vLLM has sent block hashes as 64-bit integers and as byte strings (a SHA-256 digest, 32
 * bytes). An integer hash is its own key (an unsigned 64-bit value keeps its bits); a byte
 * string's key is XXH3-64 of its bytes. The keys only index the translator's map from engine
 * hash to Tandem hash, so a collision (probability about 2^-64 per pair) could at worst make one
 * block's parent or removal resolve to another block's Tandem hash. A block held in a second
 * storage medium (vLLM reports CPU-offloaded copies with {@code medium = "CPU"}) is a second key:
 * the medium's name is chained into the hash, and the GPU (or unnamed) medium leaves it as is,
 * so a block counts as cached while any medium holds it.
 */
final class EngineBlockKeys {
    /** The medium vLLM names its GPU cache; it and an absent medium leave keys unchanged. */
    static final String DEFAULT_MEDIUM = "GPU";

    private EngineBlockKeys() {
    }

    static long ofBytes(byte[] hash) {
        return BlockHasher.xxh3(hash);
    }

    /** {@code key} as held in {@code medium} (null: the default medium). */
    static long inMedium(long key, String medium) {
        if (medium == null || medium.equals(DEFAULT_MEDIUM)) {
            return key;
        }
        return BlockHasher.chain(key, BlockHasher.xxh3(medium.getBytes(StandardCharsets.UTF_8)));
    }
}
