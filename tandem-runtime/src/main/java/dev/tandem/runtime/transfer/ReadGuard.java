package dev.tandem.runtime.transfer;

/**
 * The serving worker's answer to "may a puller read these blocks under this handle?": true only
 * while the handle's pin holds them. Called on server threads; must be fast and safe for
 * concurrent use.
 */
@FunctionalInterface
public interface ReadGuard {
    /** Serves any block in range (for tests and benchmarks, where nothing is evicted). */
    ReadGuard ALLOW_ALL = (handleId, firstBlock, blockCount) -> true;

    boolean mayRead(long handleId, int firstBlock, int blockCount);
}
