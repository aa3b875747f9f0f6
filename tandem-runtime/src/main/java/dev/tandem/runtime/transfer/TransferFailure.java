package dev.tandem.runtime.transfer;

/**
 * Why a pull failed. Every one is an expected outcome: the decode worker's next step is the
 * same for all of them (prefill locally, or answer 503 when disaggregation is enforced); the
 * reason goes to logs and metrics. After any failure none of the destination blocks hold
 * valid data, even if some bytes were written.
 */
public enum TransferFailure {
    /** Source and destination layouts differ; nothing was sent or copied. */
    LAYOUT_MISMATCH,
    /** Block ids out of range, duplicated, or unequal list lengths; nothing was copied. */
    INVALID_REQUEST,
    /** The handle's pin had lapsed before the pull started. */
    EXPIRED,
    /** The peer could not be reached (connection refused, pool or file gone). */
    UNREACHABLE,
    /** The deadline passed before the last byte arrived. */
    DEADLINE,
    /** The peer went away or failed during the transfer. */
    PEER_FAILED,
    /** The peer sent bytes that do not decode. */
    PROTOCOL,
    /** The peer refused the request (blocks not pinned, out of its range). */
    REJECTED
}
