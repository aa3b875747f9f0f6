package dev.tandem.bench;

/**
 * A claim of the project's seed put next to what a comparison measured.
 *
 * @param topic    what is claimed about (cache hit rate, throughput vs round-robin, ...)
 * @param claimed  the claimed figure, as the seed states it
 * @param measured the figure measured in this run, or "not measured"
 * @param basis    how it was computed (which configurations, which metric)
 */
public record Claim(String topic, String claimed, String measured, String basis) {
}
