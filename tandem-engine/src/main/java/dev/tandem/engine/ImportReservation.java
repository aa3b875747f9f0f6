package dev.tandem.engine;

import java.util.Arrays;

/**
 * Blocks a decode engine reserved for a prompt whose K/V will be copied in from a peer (the other
 * half of the disaggregation seam, see {@link PromptPin}). Blocks {@code 0 .. firstBlockToFill)}
 * came from the engine's own prefix cache; the caller fills blocks {@code firstBlockToFill ..}
 * and then calls {@link LlmEngine#startImported} (or {@link LlmEngine#cancelImport}). An unused
 * reservation is released at {@code expiresAtNanos}. Immutable.
 */
public final class ImportReservation {
    private final long reservationId;
    private final String requestId;
    private final int promptTokens;
    private final int cachedTokens;
    private final int[] blockIds;
    private final int blockSize;
    private final long expiresAtNanos;

    public ImportReservation(long reservationId, String requestId, int promptTokens, int cachedTokens,
                             int[] blockIds, int blockSize, long expiresAtNanos) {
        this.reservationId = reservationId;
        this.requestId = requestId;
        this.promptTokens = promptTokens;
        this.cachedTokens = cachedTokens;
        this.blockIds = blockIds.clone();
        this.blockSize = blockSize;
        this.expiresAtNanos = expiresAtNanos;
    }

    public long reservationId() {
        return reservationId;
    }

    public String requestId() {
        return requestId;
    }

    public int promptTokens() {
        return promptTokens;
    }

    /** Leading prompt tokens already present from the local prefix cache (whole blocks). */
    public int cachedTokens() {
        return cachedTokens;
    }

    /** Index (in {@link #blockIds()}) of the first block the caller must fill. */
    public int firstBlockToFill() {
        return cachedTokens / blockSize;
    }

    /** A copy of all the prompt's block ids, in position order. */
    public int[] blockIds() {
        return blockIds.clone();
    }

    public long expiresAtNanos() {
        return expiresAtNanos;
    }

    @Override
    public String toString() {
        return "ImportReservation[" + reservationId + ", req=" + requestId + ", tokens=" + promptTokens + ", cached="
                + cachedTokens + ", blocks=" + Arrays.toString(blockIds) + "]";
    }
}
