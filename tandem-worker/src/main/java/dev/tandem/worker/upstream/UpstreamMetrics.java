package dev.tandem.worker.upstream;

/**
 * The load figures Tandem reads from an upstream server's Prometheus {@code /metrics}: llama-server
 * ({@code --metrics}: {@code llamacpp:requests_processing}, {@code llamacpp:requests_deferred},
 * {@code llamacpp:kv_cache_usage_ratio} where the version has it), vLLM
 * ({@code vllm:num_requests_running}, {@code vllm:num_requests_waiting},
 * {@code vllm:kv_cache_usage_perc} or {@code vllm:gpu_cache_usage_perc}) and SGLang
 * ({@code sglang:num_running_reqs}, {@code sglang:num_queue_reqs}, {@code sglang:token_usage}).
 * Series with labels are summed.
 *
 * @param running  requests being computed, or -1 when the text has none of the names
 * @param waiting  requests queued, or -1
 * @param kvUsage  fraction of the KV cache in use, [0, 1], or -1
 */
record UpstreamMetrics(int running, int waiting, double kvUsage) {
    static final UpstreamMetrics NONE = new UpstreamMetrics(-1, -1, -1);

    private static final String[] RUNNING = {"llamacpp:requests_processing", "vllm:num_requests_running",
        "sglang:num_running_reqs"};
    private static final String[] WAITING = {"llamacpp:requests_deferred", "vllm:num_requests_waiting",
        "sglang:num_queue_reqs"};
    private static final String[] KV = {"llamacpp:kv_cache_usage_ratio", "vllm:kv_cache_usage_perc",
        "vllm:gpu_cache_usage_perc", "sglang:token_usage"};

    boolean known() {
        return running >= 0;
    }

    /** Reads the figures from Prometheus text; malformed lines are skipped. */
    static UpstreamMetrics parse(String text) {
        double running = -1;
        double waiting = -1;
        double kv = -1;
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.charAt(0) == '#') {
                continue;
            }
            int end = 0;
            while (end < line.length() && line.charAt(end) != '{' && line.charAt(end) != ' ') {
                end++;
            }
            String name = line.substring(0, end);
            double value;
            try {
                String[] parts = line.substring(line.lastIndexOf('}') + 1).trim().split("\\s+");
                value = Double.parseDouble(parts[line.indexOf('{') >= 0 ? 0 : 1]);
            } catch (RuntimeException e) {
                continue;
            }
            if (Double.isNaN(value)) {
                continue;
            }
            if (matches(name, RUNNING)) {
                running = Math.max(running, 0) + value;
            } else if (matches(name, WAITING)) {
                waiting = Math.max(waiting, 0) + value;
            } else if (matches(name, KV)) {
                kv = Math.max(kv, value);
            }
        }
        return new UpstreamMetrics((int) Math.round(running), waiting < 0 ? -1 : (int) Math.round(waiting),
                kv < 0 ? -1 : Math.min(1.0, kv));
    }

    private static boolean matches(String name, String[] names) {
        for (String n : names) {
            if (n.equals(name)) {
                return true;
            }
        }
        return false;
    }
}
