package dev.tandem.frontend;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.Engine;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * A frontend on an ephemeral port with engines behind it, and a JDK HTTP client. Two kinds of
 * workers: the real engine on stories260K, and the mock engine (real scheduler and block
 * accounting, simulated step times) with the byte-level test tokenizer, for tests that need
 * requests to run for a while.
 */
final class Harness implements AutoCloseable {
    static final ObjectMapper JSON = new ObjectMapper();
    static final String STORIES = "stories260K";
    static final String MOCK = "mock-model";
    /** KV blocks per worker in these tests (16 tokens each). */
    static final int KV_BLOCKS = 512;

    final FrontendServer server;
    final WorkerSet workers = new WorkerSet();
    final List<RecordingEngine> engines = new ArrayList<>();
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final LocalModel model;
    private final Supplier<Engine> engineFactory;

    private Harness(LocalModel model, ServedModel served, Supplier<Engine> engineFactory, int workerCount,
                    UnaryOperator<FrontendConfig> config) {
        this.model = model;
        this.engineFactory = engineFactory;
        for (int i = 0; i < workerCount; i++) {
            addWorker("w" + i);
        }
        server = FrontendServer.start(config.apply(FrontendConfig.defaults().withPort(0)), List.of(served), workers,
                new RoundRobinSelector());
    }

    /** Real engines on stories260K. */
    static Harness stories(int workerCount, UnaryOperator<FrontendConfig> config) {
        LocalModel model = LocalModel.open(modelPath(), null);
        EngineConfig engineConfig = EngineConfig.DEFAULT.withKvBlocks(KV_BLOCKS).withMaxSequences(32);
        return new Harness(model, model.served(), () -> model.model().startEngine(engineConfig, 1, null), workerCount, config);
    }

    static Harness stories(int workerCount) {
        return stories(workerCount, c -> c);
    }

    /** Mock engines with the byte-level tokenizer (ids 0..257, so every mock token is a byte). */
    static Harness mock(int workerCount, TimingProfile timing, UnaryOperator<FrontendConfig> config) {
        MockConfig mc = MockConfig.DEFAULT.withModelName(MOCK).withVocabSize(new ByteTextModel().vocabSize())
                .withContextLength(4096).withTiming(timing)
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(KV_BLOCKS).withMaxSequences(32));
        return new Harness(null, new ServedModel(MOCK, new ByteTextModel()), () -> MockEngine.start(mc), workerCount,
                config);
    }

    static Path modelPath() {
        String dir = System.getProperty("tandem.test.models");
        if (dir == null || !Path.of(dir, "stories260K.gguf").toFile().isFile()) {
            String env = System.getenv("TANDEM_MODEL_PATH");
            dir = env != null ? env.split(java.io.File.pathSeparator)[0] : dir;
        }
        return Path.of(dir, "stories260K.gguf");
    }

    RecordingEngine addWorker(String id) {
        RecordingEngine e = new RecordingEngine(engineFactory.get());
        engines.add(e);
        workers.add(new Worker(id, WorkerRole.AGGREGATED, e));
        return e;
    }

    RecordingEngine engine(int i) {
        return engines.get(i);
    }

    ServedModel served() {
        return model == null ? new ServedModel(MOCK, new ByteTextModel()) : model.served();
    }

    URI uri(String path) {
        return URI.create(server.url() + path);
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(uri(path)).timeout(Duration.ofSeconds(60))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    JsonNode postJson(String path, String body) throws IOException, InterruptedException {
        HttpResponse<String> r = post(path, body);
        if (r.statusCode() != 200) {
            throw new AssertionError("status " + r.statusCode() + ": " + r.body());
        }
        return json(r.body());
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

    /** The text of choice 0 of a streamed body (chat deltas or completion texts). */
    static String streamedText(String body) throws IOException {
        StringBuilder sb = new StringBuilder();
        List<String> events = events(body);
        for (String e : events.subList(0, events.size() - 1)) {
            JsonNode choices = json(e).get("choices");
            if (choices.isEmpty()) {
                continue;
            }
            JsonNode c = choices.get(0);
            if (c.has("text")) {
                sb.append(c.get("text").asText());
            } else if (c.get("delta").has("content")) {
                sb.append(c.get("delta").get("content").asText());
            }
        }
        return sb.toString();
    }

    /** Blocks held by running sequences on every worker. */
    int activeBlocks() {
        return engines.stream().mapToInt(e -> e.load().activeBlocks()).sum();
    }

    @Override
    public void close() {
        server.close();
        for (Engine e : engines) {
            e.close();
        }
        if (model != null) {
            model.close();
        }
    }
}
