package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.cli.cluster.JavaLauncher;
import dev.tandem.cli.cluster.TandemChild;
import dev.tandem.core.LoadReport;
import dev.tandem.runtime.Prerequisites;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.process.EtcdServer;
import dev.tandem.runtime.process.NatsServer;
import dev.tandem.runtime.registry.EtcdRegistry;
import dev.tandem.runtime.registry.RegistryEvent;
import dev.tandem.runtime.rpc.RemoteEngine;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A multi-process deployment for tests: real etcd and nats-server on free ports, a
 * {@code tandem frontend} and {@code tandem worker}s as separate JVMs started from the test class
 * path with the build's JVM flags, logs under {@code target/}. Closing stops every process, each
 * on its own, so one failure never leaves the others running.
 */
final class ClusterFixture implements AutoCloseable {
    /** What a worker prints once registered: its id and request-plane address. */
    private static final Pattern WORKER_AT = Pattern.compile("Tandem worker (\\S+) serving model .* engine at (\\S+)");
    private static final Pattern LISTED = Pattern.compile("tandem_frontend_worker_kv_usage\\{worker=\"([^\"]+)\"}");
    static final ObjectMapper JSON = new ObjectMapper();

    final Path dir;
    final JavaLauncher launcher;
    final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final RuntimeConfig clientConfig = RuntimeConfig.defaults().withRpcTimeouts(60_000, 10_000, 10_000);
    private final List<AutoCloseable> parts = new ArrayList<>();
    private final Map<String, Worker> workers = new LinkedHashMap<>();
    /** Instance ids with a record in etcd now, as the test JVM's own watch sees them. */
    private final Set<String> registered = ConcurrentHashMap.newKeySet();
    EtcdServer etcd;
    NatsServer nats;
    ChildProcess frontend;
    String url;

    /** A worker process and where its request plane listens. */
    record Worker(String id, ChildProcess process, String rpcAddress) {
    }

    ClusterFixture(String name) throws IOException {
        Path target = Path.of("target", "system-tests").toAbsolutePath();
        Files.createDirectories(target);
        this.dir = Files.createTempDirectory(target, name + "-");
        this.launcher = launcher();
    }

    /**
     * The test JVM's own launcher: its java, the build's {@code tandem.jvm.flags} (the surefire
     * configuration passes them), the test class path, plus a small heap and the quick JIT tier
     * (child start-up dominates on a busy 2-core machine). With only C1 the Vector API is not
     * intrinsified and runs several times slower than the scalar twins of the kernels, so the
     * children use those ({@code tandem.kernels.vector-bits=0}: same tokens, see the engine's
     * kernel tests).
     */
    static JavaLauncher launcher() {
        String flags = System.getProperty("tandem.jvm.flags", "--add-modules=jdk.incubator.vector "
                + "--enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:+UseParallelGC");
        List<String> jvm = new ArrayList<>(Arrays.asList(flags.trim().split("\\s+")));
        jvm.addAll(List.of("-Xmx384m", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
                "-Dtandem.kernels.vector-bits=0"));
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        return new JavaLauncher(Path.of(System.getProperty("java.home"), "bin", "java").toString(), jvm, classpath,
                List.of());
    }

    static String modelFile() {
        return Path.of(System.getProperty("tandem.test.models", "../../shared/models"), "stories260K.gguf")
                .toAbsolutePath().toString();
    }

    /**
     * Starts etcd (client port on {@code etcdHosts}) and NATS (on {@code natsHost}); skips the test
     * (or fails it, see {@link Prerequisites}) when either is not on the PATH.
     */
    void startServices(List<String> etcdHosts, String natsHost) {
        Prerequisites.servers();
        etcd = EtcdServer.start(dir, etcdHosts);
        parts.add(etcd);
        nats = NatsServer.start(dir, natsHost);
        parts.add(nats);
    }

    /**
     * Watches the default namespace's records from this JVM (an etcd client of its own, which
     * resynchronises by itself across etcd restarts), so tests can tell when a record is gone
     * from the registry itself, not only from the frontend's worker set.
     */
    void watchRegistry() {
        EtcdRegistry registry = EtcdRegistry.connect(etcd.url(), clientConfig);
        parts.add(registry);
        parts.add(registry.watchInstances(event -> {
            switch (event) {
                case RegistryEvent.Added a -> registered.add(a.record().instanceId());
                case RegistryEvent.Removed r -> registered.remove(r.record().instanceId());
                case RegistryEvent.Synced s -> {
                }
            }
        }));
    }

    /** Instance ids registered in etcd now ({@link #watchRegistry()} must have been called). */
    Set<String> registered() {
        return Set.copyOf(registered);
    }

    /** Starts {@code tandem frontend} on a free port; returns without waiting. */
    ChildProcess startFrontend(List<String> extra) {
        List<String> args = new ArrayList<>(List.of("frontend", "--registry", etcd.url(), "--events", nats.url(),
                "--model", modelFile(), "--port", "0", "--probe-interval-ms", "250"));
        args.addAll(extra);
        frontend = TandemChild.start(launcher, "frontend", dir.resolve("frontend.log"), args);
        parts.add(frontend);
        return frontend;
    }

    String awaitFrontend() {
        url = TandemChild.awaitFrontendUrl(frontend);
        return url;
    }

    /** Starts {@code tandem worker --instance-id id} (on loopback unless {@code extra} says otherwise). */
    ChildProcess startWorker(JavaLauncher how, String id, List<String> extra) {
        List<String> args = new ArrayList<>(List.of("worker", "--instance-id", id, "--model", modelFile()));
        if (!extra.contains("--registry")) {
            args.addAll(List.of("--registry", etcd.url(), "--events", nats.url(), "--rpc-host", "127.0.0.1"));
        }
        args.addAll(extra);
        ChildProcess p = TandemChild.start(how, id, dir.resolve(id + ".log"), args);
        parts.add(p);
        return p;
    }

    ChildProcess startWorker(String id, List<String> extra) {
        return startWorker(launcher, id, extra);
    }

    /** Waits until a started worker is registered. */
    Worker awaitWorker(ChildProcess p) {
        p.awaitOutput(WORKER_AT, TandemChild.READY_TIMEOUT);
        Matcher m = WORKER_AT.matcher(p.output());
        if (!m.find()) {
            throw new AssertionError("no registration line in " + p.log());
        }
        Worker w = new Worker(m.group(1), p, m.group(2));
        workers.put(w.id(), w);
        return w;
    }

    Worker worker(String id) {
        return workers.get(id);
    }

    /** Worker ids the frontend lists in its metrics now (its worker set). */
    Set<String> listed() throws IOException, InterruptedException {
        HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
        Set<String> ids = new TreeSet<>();
        Matcher m = LISTED.matcher(r.body());
        while (m.find()) {
            ids.add(m.group(1));
        }
        return ids;
    }

    String metrics() throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url + "/metrics")).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    /** A counter's value in the frontend's metrics. */
    double counter(String name) throws IOException, InterruptedException {
        Matcher m = Pattern.compile("(?m)^" + Pattern.quote(name) + " (\\S+)$").matcher(metrics());
        return m.find() ? Double.parseDouble(m.group(1)) : 0;
    }

    HttpResponse<String> post(String path, String json) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url + path))
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(json)).build(), HttpResponse.BodyHandlers.ofString());
    }

    /** POST /v1/completions at temperature 0. */
    HttpResponse<String> complete(String prompt, int maxTokens) throws IOException, InterruptedException {
        return post("/v1/completions", JSON.createObjectNode().put("model", "stories260K").put("prompt", prompt)
                .put("max_tokens", maxTokens).put("temperature", 0).toString());
    }

    static JsonNode json(HttpResponse<String> r) throws IOException {
        return JSON.readTree(r.body());
    }

    int status(String path) throws IOException, InterruptedException {
        return http.send(HttpRequest.newBuilder(URI.create(url + path)).timeout(Duration.ofSeconds(10)).build(),
                HttpResponse.BodyHandlers.discarding()).statusCode();
    }

    /** A worker's load, asked over its request plane (one RPC from the test JVM). */
    LoadReport load(Worker w) {
        try (RemoteEngine client = RemoteEngine.connect(w.rpcAddress(), clientConfig)) {
            return client.load();
        }
    }

    @Override
    public void close() {
        List<Thread> stops = new ArrayList<>();
        for (int i = parts.size() - 1; i >= 0; i--) {
            AutoCloseable part = parts.get(i);
            if (part instanceof ChildProcess p) {
                stops.add(Thread.ofVirtual().start(() -> p.stop(Duration.ofSeconds(5))));
            }
        }
        for (Thread t : stops) {
            try {
                t.join(Duration.ofSeconds(30));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        for (AutoCloseable part : parts.reversed()) {
            if (!(part instanceof ChildProcess)) {
                try {
                    part.close();
                } catch (Exception e) {
                    System.err.println("closing " + part + " failed: " + e);
                }
            }
        }
        http.close();
        deleteTree(dir.resolve("etcd-data"));
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (var files = Files.walk(root)) {
            files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            System.err.println("cannot delete " + root + ": " + e);
        }
    }
}
