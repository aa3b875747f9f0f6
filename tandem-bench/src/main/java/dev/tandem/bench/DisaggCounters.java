package dev.tandem.bench;

import java.util.Locale;

/**
 * What a disaggregated server reported on {@code /metrics} during one run (the difference of two
 * scrapes, before and after): how many prompts a prefill worker computed (remote) and how many
 * the decode worker computed itself (local), planned remote prefills that fell back, and the KV
 * pulls' count, bytes and wall time. A counter the server does not export is NaN.
 *
 * @param remote           requests prefilled on a prefill worker ({@code tandem_disagg_requests_total{path="remote"}})
 * @param local            requests the decode worker prefilled ({@code path="local"}, any reason)
 * @param fallbacks        planned remote prefills that ended local ({@code tandem_disagg_fallbacks_total})
 * @param pulls            successful KV pulls ({@code tandem_kv_transfer_pulls_total})
 * @param bytes            KV bytes pulled ({@code tandem_kv_transfer_bytes_total})
 * @param transferSeconds  wall time of the pulls ({@code tandem_kv_transfer_seconds_total}, summed over pulls)
 */
public record DisaggCounters(double remote, double local, double fallbacks, double pulls, double bytes,
                             double transferSeconds) {
    /** Transfer time counters, in the order they are looked for. */
    static final String[] TRANSFER_SECONDS = {"tandem_kv_transfer_seconds_total", "tandem_kv_transfer_seconds_sum",
        "tandem_kv_transfer_seconds"};
    static final String REQUESTS = "tandem_disagg_requests_total";

    /** The counters' growth between two scrapes of {@code /metrics}. */
    static DisaggCounters between(String before, String after) {
        double remote = PrometheusText.delta(before, after, REQUESTS, "path=\"remote\"");
        double local = PrometheusText.delta(before, after, REQUESTS, "path=\"local\"");
        // a labelled series appears on its first increment: with the other path present, a missing one is 0
        if (Double.isNaN(remote) != Double.isNaN(local)) {
            remote = Double.isNaN(remote) ? 0 : remote;
            local = Double.isNaN(local) ? 0 : local;
        }
        return new DisaggCounters(remote, local,
                PrometheusText.delta(before, after, "tandem_disagg_fallbacks_total", null),
                PrometheusText.delta(before, after, "tandem_kv_transfer_pulls_total", null),
                PrometheusText.delta(before, after, "tandem_kv_transfer_bytes_total", null),
                PrometheusText.delta(before, after, TRANSFER_SECONDS));
    }

    /** One line for the report's notes. */
    String describe(String label) {
        StringBuilder sb = new StringBuilder(label).append(": ");
        if (Double.isNaN(remote)) {
            sb.append("the server reported no disaggregation counters");
        } else {
            sb.append(String.format(Locale.ROOT, "%.0f prompts prefilled on a prefill worker, %.0f by the decode worker",
                    remote, Double.isNaN(local) ? 0 : local));
            if (!Double.isNaN(fallbacks) && fallbacks > 0) {
                sb.append(String.format(Locale.ROOT, " (%.0f after a failed remote prefill)", fallbacks));
            }
        }
        if (!Double.isNaN(transferSeconds)) {
            sb.append(String.format(Locale.ROOT, "; %.0f KV pulls, %.1f MB in %.3f s", Double.isNaN(pulls) ? 0 : pulls,
                    (Double.isNaN(bytes) ? 0 : bytes) / 1e6, transferSeconds));
        }
        return sb.append(" (server /metrics, before and after the run)").toString();
    }
}
