package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.cli.CommandRunner.Running;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.transfer.TransferMetrics;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Disaggregated serving through the commands: {@code tandem worker --role prefill|decode} and
 * {@code tandem frontend} joined by the in-memory registry and bus, talking over the real
 * request plane (gRPC on loopback) and pulling KV over a real transport (tcp or shm); and
 * {@code tandem serve --prefill-workers 1 --decode-workers 1} in one process. Real engine on
 * stories260K.
 */
@Timeout(180)
class DisaggCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play "
            + "outside in the park with her friends. One day, she saw a big red ball under a tree and ran to get it.";
    private final CommandRunner commands = new CommandRunner();

    @AfterEach
    void tearDown() throws InterruptedException {
        commands.stopAll();
    }

    private static String modelFile() {
        return Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf").toString();
    }

    private WorkerCommand worker(String cluster, String id, String role, String transfer) {
        WorkerCommand cmd = new WorkerCommand();
        Running<WorkerCommand> r = commands.run(cmd, cmd.foreground, "--registry", "memory://" + cluster, "--events",
                "memory://" + cluster, "--model", modelFile(), "--instance-id", id, "--role", role, "--transfer",
                transfer, "--kv-blocks", "128", "--rpc-host", "127.0.0.1", "--drain-timeout-ms", "1000");
        await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null || !r.thread().isAlive());
        assertThat(cmd.running).as("worker " + id + " started").isNotNull();
        return cmd;
    }

    @ParameterizedTest
    @EnumSource(value = TransferKind.class, names = {"TCP", "SHM"})
    void prefillAndDecodeWorkers_overTheRequestPlane_decodePullsThePromptAndReleasesThePin(TransferKind kind)
            throws Exception {
        String cluster = "disagg-" + kind.label();
        FrontendCommand fe = new FrontendCommand();
        commands.run(fe, fe.foreground, "--registry", "memory://" + cluster, "--events", "memory://" + cluster, "--model",
                modelFile(), "--port", "0", "--probe-interval-ms", "100", "--disagg-min-tokens", "16");
        await().atMost(Duration.ofSeconds(60)).until(() -> fe.running != null);
        WorkerCommand prefill = worker(cluster, "p0", "prefill", kind.label());
        WorkerCommand decode = worker(cluster, "d0", "decode", kind.label());
        await().atMost(Duration.ofSeconds(20)).until(() -> fe.running.workers().all().size() == 2);

        try (HttpClient client = HttpClient.newHttpClient()) {
            JsonNode r = complete(client, fe.running.url());

            int prompt = r.get("usage").get("prompt_tokens").asInt();
            assertThat(r.get("usage").get("prompt_tokens_details").get("transferred_tokens").asInt()).isEqualTo(prompt);
            TransferMetrics.Snapshot pulled = decode.running.transferMetrics().snapshot(kind);
            assertThat(pulled.pulls()).isEqualTo(1);
            assertThat(pulled.blocks()).isEqualTo((prompt + 15) / 16);
            assertThat(prefill.running.engine().load().promptTokens()).isEqualTo(prompt);
            // the decode worker released the pin over the request plane
            await().atMost(Duration.ofSeconds(10)).until(() -> prefill.running.disaggEngine().activePins() == 0);
            assertThat(prefill.running.disaggMetrics().pinsReleased()).isEqualTo(1);
        }
    }

    @Test
    void serve_prefillAndDecodeWorkers_shm_requestIsPrefilledRemotely() throws Exception {
        ServeCommand serve = new ServeCommand();
        Running<ServeCommand> r = commands.run(serve, new Foreground(), "--model", modelFile(), "--port", "0",
                "--prefill-workers", "1", "--decode-workers", "1", "--kv-transport", "shm", "--kv-blocks", "128",
                "--threads", "1", "--disagg-min-tokens", "16", "--kv-handle-ttl", "5s");
        await().atMost(Duration.ofSeconds(60)).until(() -> serve.running != null || !r.thread().isAlive());
        assertThat(serve.running).isNotNull();
        try (HttpClient client = HttpClient.newHttpClient()) {
            JsonNode c = complete(client, serve.running.url());

            int prompt = c.get("usage").get("prompt_tokens").asInt();
            assertThat(c.get("usage").get("prompt_tokens_details").get("transferred_tokens").asInt()).isEqualTo(prompt);
            assertThat(serve.running.disaggMetrics().transfer().snapshot(TransferKind.SHM).blocks())
                    .isEqualTo((prompt + 15) / 16);
            String metrics = client.send(HttpRequest.newBuilder(URI.create(serve.running.url() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString()).body();
            assertThat(metrics).contains("tandem_kv_transfer_bytes_total{transport=\"shm\"}")
                    .contains("tandem_disagg_handoff_seconds_total");
        } finally {
            serve.stop.countDown();
            r.thread().join(Duration.ofSeconds(30));
        }
    }

    private static JsonNode complete(HttpClient client, String base) throws Exception {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"" + STORY + "\", \"max_tokens\": 8, "
                        + "\"temperature\": 0}")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        return JSON.readTree(r.body());
    }
}
