package dev.tandem.bench;

import java.util.List;

/**
 * One row of a Mooncake-format trace.
 *
 * @param timestampMs  arrival, ms from the start of the trace
 * @param inputLength  prompt tokens
 * @param outputLength tokens generated
 * @param hashIds      one id per block of the prompt (512 tokens in Mooncake traces); equal ids mean
 *                     equal blocks, and reuse is always a prefix
 */
public record TraceRecord(long timestampMs, int inputLength, int outputLength, List<Long> hashIds) {
    public TraceRecord {
        hashIds = List.copyOf(hashIds);
    }
}
