package dev.tandem.worker.upstream;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class UpstreamMetricsTest {
    @Test
    void llamaServer_processingAndDeferredRequests() {
        UpstreamMetrics m = UpstreamMetrics.parse("""
                # HELP llamacpp:requests_processing Number of requests processing
                # TYPE llamacpp:requests_processing gauge
                llamacpp:requests_processing 3
                llamacpp:requests_deferred 2
                llamacpp:prompt_tokens_total 23
                """);

        assertThat(m).isEqualTo(new UpstreamMetrics(3, 2, -1));
    }

    @Test
    void vllm_labelledSeriesAreSummed_andKvUsageRead() {
        UpstreamMetrics m = UpstreamMetrics.parse("""
                vllm:num_requests_running{engine="0",model_name="m"} 2.0
                vllm:num_requests_running{engine="1",model_name="m"} 1.0
                vllm:num_requests_waiting{engine="0",model_name="m"} 4.0
                vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.25
                """);

        assertThat(m).isEqualTo(new UpstreamMetrics(3, 4, 0.25));
    }

    @Test
    void unknownOrMalformedText_isNone() {
        assertThat(UpstreamMetrics.parse("something_else 1\nllamacpp:requests_processing x\n").known()).isFalse();
    }
}
