package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.upstream.FakeVllm;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code tandem worker --upstream URL --role prefill|decode}: two sidecar processes adapting two
 * servers written to vLLM's NIXL disaggregation protocol ({@link FakeVllm}, in this JVM), registered
 * in a real etcd, behind {@code tandem frontend}: the prefill's KV handle crosses the request plane
 * (gRPC) with vLLM's kv_transfer_params in it.
 */
class UpstreamDisaggClusterTest {
    private ClusterFixture cluster;
    private final List<FakeVllm> servers = new ArrayList<>();

    @AfterEach
    void stop() {
        if (cluster != null) {
            cluster.close();
        }
        servers.forEach(FakeVllm::close);
    }

    @Test
    void prefillAndDecodeSidecars_decodeServerReadsThePrefillServersBlocks_andFallsBackWithoutThem()
            throws Exception {
        cluster = new ClusterFixture("upstream-disagg");
        cluster.startServices(List.of("127.0.0.1"), "127.0.0.1");
        FakeVllm prefill = FakeVllm.start("engine-p", 16);
        servers.add(prefill);
        FakeVllm decode = FakeVllm.start("engine-d", 16).peer(prefill);
        servers.add(decode);
        cluster.startFrontend(List.of("--router", "kv", "--disagg-min-tokens", "1"));
        List<ChildProcess> workers = List.of(
                cluster.startWorker("upp", List.of("--upstream", prefill.url(), "--upstream-kind", "vllm",
                        "--role", "prefill")),
                cluster.startWorker("upd", List.of("--upstream", decode.url(), "--upstream-kind", "vllm",
                        "--role", "decode")));
        cluster.awaitFrontend();
        for (ChildProcess p : workers) {
            cluster.awaitWorker(p);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> cluster.listed().equals(Set.of("upp", "upd")));

        HttpResponse<String> r = cluster.complete("Once upon a time there was a little girl", 8);

        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        JsonNode answer = ClusterFixture.json(r);
        int[] prompt = ClusterFixture.JSON.convertValue(prefill.bodies.getFirst().path("prompt"), int[].class);
        int[] leg = ClusterFixture.JSON.convertValue(decode.bodies.getFirst().path("prompt"), int[].class);
        assertThat(leg).as("the prompt and the prefill's first token")
                .containsExactly(concat(prompt, FakeVllm.generate(prompt, 1)));
        assertThat(decode.bodies.getFirst().at("/kv_transfer_params/remote_engine_id").asText()).isEqualTo("engine-p");
        assertThat(decode.remoteReads.get()).isEqualTo(1);
        assertThat(decode.requestIds).containsExactlyElementsOf(prefill.requestIds);
        assertThat(answer.at("/usage/prompt_tokens").asInt()).isEqualTo(prompt.length);
        assertThat(answer.at("/usage/prompt_tokens_details/transferred_tokens").asInt()).isEqualTo(prompt.length);
        assertThat(answer.at("/usage/completion_tokens").asInt()).isEqualTo(8);

        prefill.answerParams = false;
        HttpResponse<String> fallback = cluster.complete("The dog ran to the park to find a ball", 8);

        assertThat(fallback.statusCode()).as(fallback.body()).isEqualTo(200);
        assertThat(decode.bodies.getLast().has("kv_transfer_params")).isFalse();
        assertThat(decode.remoteReads.get()).isEqualTo(1);
        assertThat(ClusterFixture.json(fallback).at("/usage/completion_tokens").asInt()).isEqualTo(8);
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
