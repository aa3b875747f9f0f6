package dev.tandem.systemtests;

import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.Prerequisites;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/**
 * A real llama.cpp {@code llama-server} on stories260K, on a free loopback port, built once per
 * test JVM by {@code tools/llamacpp/server.sh} next to the models folder (the test is skipped
 * when it cannot be built, or fails under {@code TANDEM_REQUIRE_SERVERS=1}).
 */
final class LlamaServer implements AutoCloseable {
    /** Slots (sequences at once) and total context: 1,024 positions per slot. */
    static final int SLOTS = 2;
    static final int CONTEXT = 2_048;

    private final ChildProcess process;
    final String url;

    private LlamaServer(ChildProcess process, String url) {
        this.process = process;
        this.url = url;
    }

    /** The binary, building it first if needed (skips or fails the test when it cannot). */
    static Path binary() {
        Path models = Path.of(ClusterFixture.modelFile()).getParent();
        return Prerequisites.llamaServer(models.resolveSibling("tools").resolve("llamacpp").resolve("server.sh"));
    }

    /** Starts one and waits until {@code /health} answers 200. */
    static LlamaServer start(Path dir, String name) throws IOException, InterruptedException {
        Path binary = binary();
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        ChildProcess p = ChildProcess.start(name, List.of(binary.toString(), "-m", ClusterFixture.modelFile(),
                "--host", "127.0.0.1", "--port", Integer.toString(port), "-t", "1", "--parallel",
                Integer.toString(SLOTS), "-c", Integer.toString(CONTEXT), "--metrics"), dir.resolve(name + ".log"));
        LlamaServer server = new LlamaServer(p, "http://127.0.0.1:" + port);
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
            p.awaitCondition("to answer GET /health", Duration.ofSeconds(60), () -> {
                try {
                    return http.send(HttpRequest.newBuilder(URI.create(server.url + "/health"))
                            .timeout(Duration.ofSeconds(2)).build(), HttpResponse.BodyHandlers.discarding())
                            .statusCode() == 200;
                } catch (IOException e) {
                    return false;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            });
        } catch (RuntimeException e) {
            p.kill();
            throw e;
        }
        return server;
    }

    /** SIGKILL, as a crash would. */
    void kill() {
        process.kill();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    @Override
    public void close() {
        process.stop(Duration.ofSeconds(5));
    }
}
