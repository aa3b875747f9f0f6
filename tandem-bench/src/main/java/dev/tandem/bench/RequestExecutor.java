package dev.tandem.bench;

/**
 * Sends one request and reports what happened; never throws for a failed request (failures are
 * results). The I/O seam of {@link LoadRunner}: {@link StreamingClient} in production, a fake in
 * tests. Implementations are safe for concurrent use.
 */
public interface RequestExecutor {
    RequestResult execute(PreparedRequest request);
}
