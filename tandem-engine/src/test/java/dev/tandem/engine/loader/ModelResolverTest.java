package dev.tandem.engine.loader;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.tandem.core.ConfigException;
import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.gguf.GgufFile;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class ModelResolverTest {
    private static final String STORIES_PATH = "/ggml-org/tiny-llamas/resolve/main/stories260K.gguf";
    private static byte[] stories;

    @TempDir
    Path dir;

    private HttpServer server;
    private final AtomicInteger requests = new AtomicInteger();
    private final CountDownLatch release = new CountDownLatch(1);
    private final ByteArrayOutputStream progressBytes = new ByteArrayOutputStream();

    @BeforeAll
    static void loadModel() throws IOException {
        stories = Files.readAllBytes(Path.of(System.getProperty("tandem.test.models", "../../shared/models"))
                .resolve("stories260K.gguf"));
    }

    @AfterEach
    void stopServer() {
        release.countDown();
        if (server != null) {
            server.stop(0);
        }
    }

    /** Serves {@code handler(path)} with status 200, or 404 when it returns null. */
    private URI serve(Function<String, byte[]> handler) throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            requests.incrementAndGet();
            byte[] body = handler.apply(exchange.getRequestURI().getPath());
            respond(exchange, body);
        });
        server.start();
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    private static void respond(HttpExchange exchange, byte[] body) throws IOException {
        try (exchange) {
            if (body == null) {
                exchange.sendResponseHeaders(404, -1);
                return;
            }
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(body);
            }
        }
    }

    private ModelResolver resolver(List<Path> searchPath, URI endpoint) {
        ModelResolver.Settings s = new ModelResolver.Settings(searchPath, dir.resolve("cache"), endpoint, true,
                Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(30),
                new PrintStream(progressBytes, true));
        return new ModelResolver(s);
    }

    private List<Path> cacheFiles() throws IOException {
        Path cache = dir.resolve("cache");
        if (!Files.exists(cache)) {
            return List.of();
        }
        try (Stream<Path> s = Files.walk(cache)) {
            return s.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void resolve_knownNameNotLocal_downloadsVerifiesAndCaches() throws IOException {
        URI endpoint = serve(path -> path.equals(STORIES_PATH) ? stories : null);
        ModelResolver.ResolvedModel m = resolver(List.of(), endpoint).resolve("stories260K");
        assertThat(m.source()).isEqualTo(ModelResolver.Source.DOWNLOAD);
        assertThat(m.path()).isEqualTo(dir.resolve("cache/stories260K.gguf"));
        assertThat(Files.readAllBytes(m.path())).isEqualTo(stories);
        assertThat(requests.get()).isEqualTo(1);
        assertThat(cacheFiles()).containsExactly(m.path());
        assertThat(progressBytes.toString()).contains("download stories260K").contains("1.2/1.2 MB (100%)");
        try (GgufFile g = GgufFile.open(m.path())) {
            assertThat(g.tensors()).containsKey("token_embd.weight");
        }

        server.stop(0);
        ModelResolver.ResolvedModel again = resolver(List.of(), endpoint).resolve("stories260K");
        assertThat(again.source()).isEqualTo(ModelResolver.Source.CACHE);
        assertThat(again.path()).isEqualTo(m.path());
        assertThat(requests.get()).isEqualTo(1);
    }

    @Test
    void resolve_noModelGiven_usesDefaultStories260K() throws IOException {
        URI endpoint = serve(path -> path.equals(STORIES_PATH) ? stories : null);
        assertThat(resolver(List.of(), endpoint).resolve(null).spec()).isEqualTo("stories260K");
        assertThat(resolver(List.of(), endpoint).resolve("  ").path()).isEqualTo(dir.resolve("cache/stories260K.gguf"));
    }

    @Test
    void resolve_corruptedDownload_rejectedAndNothingSaved() throws IOException {
        byte[] corrupted = stories.clone();
        corrupted[corrupted.length / 2] ^= 1;
        URI endpoint = serve(path -> corrupted);
        assertThatThrownBy(() -> resolver(List.of(), endpoint).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class)
                .hasMessageContaining("failed verification: sha256")
                .hasMessageContaining("expected 270cba1bd5109f42d03350f60406024560464db173c0e387d91f0426d3bd256d")
                .hasMessageContaining("nothing was saved");
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void resolve_truncatedDownload_rejected() throws IOException {
        URI endpoint = serve(path -> java.util.Arrays.copyOf(stories, 1000));
        assertThatThrownBy(() -> resolver(List.of(), endpoint).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class).hasMessageContaining("has 1000 bytes, expected 1185376");
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void resolve_httpError_namesStatusAndUrl() throws IOException {
        URI endpoint = serve(path -> null);
        assertThatThrownBy(() -> resolver(List.of(), endpoint).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class)
                .hasMessageContaining("HTTP 404").hasMessageContaining(endpoint + STORIES_PATH);
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void resolve_serverStallsMidBody_failsAfterStallTimeout() throws Exception {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", exchange -> {
            if (exchange.getRequestURI().getPath().equals("/warm-up")) {
                respond(exchange, new byte[1]);
                return;
            }
            exchange.sendResponseHeaders(200, 0); // chunked, so the first bytes leave at once
            OutputStream out = exchange.getResponseBody();
            out.write(stories, 0, 4096);
            out.flush();
            try {
                release.await(30, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            exchange.close();
        });
        server.start();
        URI endpoint = URI.create("http://127.0.0.1:" + server.getAddress().getPort());
        // The JDK HTTP client's first use loads classes for a second or two on a busy machine:
        // do that outside the measured download so the stall, not the warm-up, is what times out.
        try (HttpClient client = HttpClient.newHttpClient()) {
            client.send(HttpRequest.newBuilder(endpoint.resolve("/warm-up")).build(), HttpResponse.BodyHandlers.discarding());
        }
        ModelResolver.Settings s = resolver(List.of(), endpoint).settings()
                .withTimeouts(Duration.ofSeconds(5), Duration.ofSeconds(2), Duration.ofSeconds(30));
        long start = System.nanoTime();
        assertThatThrownBy(() -> new ModelResolver(s).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class).hasMessageContaining("stalled: no data for 2 s")
                .hasMessageContaining("(4096 bytes received)");
        assertThat(Duration.ofNanos(System.nanoTime() - start)).isLessThan(Duration.ofSeconds(15));
        assertThat(cacheFiles()).isEmpty();
    }

    @Test
    void resolve_nothingListening_connectionErrorNamesUrl() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        URI endpoint = URI.create("http://127.0.0.1:" + port);
        assertThatThrownBy(() -> resolver(List.of(), endpoint).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class).hasMessageContaining("cannot download stories260K from "
                        + endpoint);
    }

    @Test
    void resolve_nameInSearchPath_foundInOrderWithoutNetwork() throws IOException {
        Path a = Files.createDirectories(dir.resolve("a"));
        Path b = Files.createDirectories(dir.resolve("b"));
        Files.write(b.resolve("stories260K.gguf"), stories);
        Path modelDir = Files.createDirectories(a.resolve("other"));
        Files.write(modelDir.resolve("weights.gguf"), stories);
        ModelResolver r = resolver(List.of(a, b), URI.create("http://127.0.0.1:9"));
        ModelResolver.ResolvedModel m = r.resolve("stories260K");
        assertThat(m.source()).isEqualTo(ModelResolver.Source.SEARCH_PATH);
        assertThat(m.path()).isEqualTo(b.resolve("stories260K.gguf"));
        assertThat(r.resolve("other").path()).isEqualTo(modelDir.resolve("weights.gguf"));
        assertThat(r.resolve("stories260K.gguf").path()).isEqualTo(b.resolve("stories260K.gguf"));
    }

    @Test
    void resolve_pathToFile_returnedAsIs() throws IOException {
        Path file = dir.resolve("m.gguf");
        SyntheticModel.write(ModelShape.named("tiny").orElseThrow(), GgmlType.F32, null, 1, file, 1, null);
        ModelResolver.ResolvedModel m = resolver(List.of(), URI.create("http://127.0.0.1:9")).resolve(file.toString());
        assertThat(m.source()).isEqualTo(ModelResolver.Source.PATH);
        assertThat(m.path()).isEqualTo(file);
    }

    @Test
    void resolve_missingPath_errorNamesPath() {
        ModelResolver r = resolver(List.of(), URI.create("http://127.0.0.1:9"));
        assertThatThrownBy(() -> r.resolve(dir.resolve("nope.gguf").toString()))
                .isInstanceOf(ModelResolutionException.class).hasMessage("model '" + dir.resolve("nope.gguf") + "' not found: no such file or directory");
        assertThatThrownBy(() -> r.resolve("nope.gguf")).hasMessageContaining("model 'nope.gguf' not found: not in the current folder")
                .hasMessageContaining(dir.resolve("cache").toString());
    }

    @Test
    void resolve_unknownName_errorListsWhereItLooked() throws IOException {
        Path a = Files.createDirectories(dir.resolve("models-a"));
        ModelResolver r = resolver(List.of(a), URI.create("http://127.0.0.1:9"));
        assertThatThrownBy(() -> r.resolve("llama-9000"))
                .isInstanceOf(ModelResolutionException.class)
                .hasMessageContaining("model 'llama-9000' not found")
                .hasMessageContaining(a + " (TANDEM_MODEL_PATH)")
                .hasMessageContaining(dir.resolve("cache") + " (cache)")
                .hasMessageContaining("names Tandem can download: stories260K");
    }

    @Test
    void resolve_directoryWithoutModel_explains() throws IOException {
        Path empty = Files.createDirectories(dir.resolve("empty"));
        assertThatThrownBy(() -> resolver(List.of(), URI.create("http://127.0.0.1:9")).resolve(empty.toString()))
                .isInstanceOf(ModelResolutionException.class).hasMessageContaining("holds no single model");
    }

    @Test
    void settings_fromEnvironment_readsPathCacheEndpointOffline() {
        Path home = dir.resolve("home");
        ModelResolver.Settings s = ModelResolver.Settings.fromEnvironment(Map.of(
                "TANDEM_MODEL_PATH", "/x:/y/z::", "TANDEM_HF_ENDPOINT", "http://mirror.local:8080/"), home, null);
        assertThat(s.searchPath()).containsExactly(Path.of("/x"), Path.of("/y/z"));
        assertThat(s.cacheDir()).isEqualTo(home.resolve(".cache/tandem"));
        assertThat(s.hfEndpoint()).isEqualTo(URI.create("http://mirror.local:8080"));
        assertThat(s.downloads()).isTrue();
        ModelResolver.Settings offline = ModelResolver.Settings.fromEnvironment(Map.of(
                "TANDEM_CACHE_DIR", "/c", "TANDEM_OFFLINE", "1"), home, null);
        assertThat(offline.cacheDir()).isEqualTo(Path.of("/c"));
        assertThat(offline.hfEndpoint()).isEqualTo(ModelResolver.Settings.DEFAULT_HF_ENDPOINT);
        assertThat(offline.downloads()).isFalse();
        assertThatThrownBy(() -> ModelResolver.Settings.fromEnvironment(Map.of("TANDEM_HF_ENDPOINT", "ftp://x"), home, null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("http(s)");
    }

    @Test
    void resolve_offlineKnownName_saysDownloadsAreOff() {
        ModelResolver.Settings s = ModelResolver.Settings.fromEnvironment(Map.of(
                "TANDEM_CACHE_DIR", dir.resolve("cache").toString(), "TANDEM_OFFLINE", "1"), dir, null);
        assertThatThrownBy(() -> new ModelResolver(s).resolve("stories260K"))
                .isInstanceOf(ModelResolutionException.class).hasMessageContaining("downloads are off");
    }
}
