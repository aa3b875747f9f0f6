package dev.tandem.frontend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.Engine;
import dev.tandem.core.WorkerRole;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/** A frontend on an ephemeral port with engines behind it, and a JDK HTTP client. */
final class Harness implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String MODEL = "test-model";

    final FrontendServer server;
    final WorkerSet workers = new WorkerSet();
    final List<Engine> engines = new ArrayList<>();
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    Harness(int workerCount, UnaryOperator<FrontendConfig> config) {
        for (int i = 0; i < workerCount; i++) {
            addWorker("w" + i);
        }
        server = FrontendServer.start(config.apply(FrontendConfig.defaults().withPort(0)),
                List.of(new ServedModel(MODEL, new ByteTextModel())), workers, new RoundRobinSelector());
    }

    Harness(int workerCount) {
        this(workerCount, c -> c);
    }

    FakeEngine addWorker(String id) {
        FakeEngine e = new FakeEngine(MODEL, 256, 16, 1024);
        engines.add(e);
        workers.add(new Worker(id, WorkerRole.AGGREGATED, e));
        return e;
    }

    FakeEngine engine(int i) {
        return (FakeEngine) engines.get(i);
    }

    URI uri(String path) {
        return URI.create(server.url() + path);
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    HttpResponse<String> get(String path) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(30)).GET().build(),
                HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(String body) throws IOException {
        return JSON.readTree(body);
    }

    /** The data payloads of an SSE body, in order, without the {@code data: } prefix. */
    static List<String> events(String sseBody) {
        List<String> out = new ArrayList<>();
        for (String frame : sseBody.split("\n\n")) {
            if (frame.isBlank()) {
                continue;
            }
            if (!frame.startsWith("data: ")) {
                throw new AssertionError("not an SSE data frame: " + frame);
            }
            out.add(frame.substring("data: ".length()));
        }
        return out;
    }

    @Override
    public void close() {
        server.close();
        for (Engine e : engines) {
            e.close();
        }
    }
}
