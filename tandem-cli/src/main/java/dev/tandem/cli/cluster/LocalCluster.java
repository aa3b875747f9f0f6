package dev.tandem.cli.cluster;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.process.EtcdServer;
import dev.tandem.runtime.process.NatsServer;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * A whole deployment on this machine, one process per part ({@code tandem up}): etcd and NATS
 * from PATH on free loopback ports with their data in the state directory, one
 * {@code tandem frontend} and the cluster file's {@code tandem worker}s as child JVMs started
 * with this JVM's own launcher. A worker entry with an {@code upstream} URL is a sidecar adapting
 * that external server ({@code tandem worker --upstream}, id {@code NAME-upstream-I}); the server
 * itself is not started here.
 *
 * <h2>Design</h2>
 * Start order: etcd, NATS, frontend, workers (all at once; they register when ready), then a
 * wait until the frontend lists every worker. After each start the state file
 * ({@link ClusterState}) is rewritten, so {@code tandem down} can stop whatever is running even if
 * this process died. Stop order is the reverse: workers (each deregisters and drains), frontend,
 * NATS, etcd; then etcd's data and the state file are deleted. Logs stay in the state directory.
 * Every worker gets {@code --metrics-port 0} (unless its args set one); once all are up, their
 * metrics endpoints and the frontend's are written to {@link PrometheusTargets#FILE} in the state
 * directory. {@link #addWorker} and {@link #removeWorker} (the planner's) rewrite it.
 *
 * <h2>Concurrency</h2>
 * Start and close from one thread; {@link #close()} may also come from a shutdown hook while
 * start is still running (it stops whatever has started). {@link #addWorker} and
 * {@link #removeWorker} come from one thread (the planner's), which must be stopped before
 * {@link #close()} so that no worker starts after the stop (tandem up closes the planner first).
 */
public final class LocalCluster implements AutoCloseable {
    private static final Duration WORKER_STOP_GRACE = Duration.ofSeconds(20);
    private static final Duration STOP_GRACE = Duration.ofSeconds(10);
    /** What {@code tandem worker --metrics-port} prints; group 1 is the metrics URL. */
    private static final Pattern METRICS_AT = Pattern.compile("Metrics at (http://\\S+/metrics)");
    /** How long after its registration line a worker may take to print its metrics line. */
    private static final Duration METRICS_LINE_TIMEOUT = Duration.ofSeconds(10);

    private final ClusterFile spec;
    private final Path dir;
    private final JavaLauncher launcher;
    private final Consumer<String> progress;
    private final List<ChildProcess> workers = new CopyOnWriteArrayList<>();
    /** Each running worker's metrics endpoint, for {@link PrometheusTargets}; in start order. */
    private final Map<ChildProcess, PrometheusTargets.WorkerTarget> targets = new ConcurrentHashMap<>();
    private final AtomicInteger nextWorkerIndex = new AtomicInteger();
    /** Written by the starting thread, read by close() on a shutdown hook. */
    private volatile EtcdServer etcd;
    private volatile NatsServer nats;
    private volatile ChildProcess frontend;
    private volatile String url = "";
    private boolean closed; // guarded by this

    private LocalCluster(ClusterFile spec, Path dir, JavaLauncher launcher, Consumer<String> progress) {
        this.spec = spec;
        this.dir = dir;
        this.launcher = launcher.withFlags(spec.jvmOptions());
        this.progress = progress;
    }

    /**
     * Starts everything and returns once the frontend serves with every worker joined.
     *
     * @param dir      state directory: logs, etcd data, the state file
     * @param progress told about each step (one line each)
     * @throws ConfigException if etcd or nats-server is not on PATH, or the cluster is already up
     * @throws TandemException if a part fails to start (everything started is stopped again)
     */
    public static LocalCluster start(ClusterFile spec, Path dir, JavaLauncher launcher, Consumer<String> progress) {
        requireOnPath("etcd", "etcd-server");
        requireOnPath("nats-server", "nats-server");
        ClusterState.read(dir).ifPresent(old -> old.up().handle().ifPresent(h -> {
            throw new ConfigException("cluster '" + spec.name() + "' is already up (tandem up, pid " + h.pid()
                    + "); stop it first with: tandem down --name " + spec.name());
        }));
        LocalCluster c = new LocalCluster(spec, dir, launcher, progress);
        try {
            c.startAll();
        } catch (RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    private void startAll() {
        deleteTree(dir.resolve("etcd-data"));
        etcd = EtcdServer.start(dir, List.of("127.0.0.1"));
        progress.accept("etcd " + etcd.url() + " (pid " + etcd.process().pid() + ")");
        saveState();
        nats = NatsServer.start(dir, "127.0.0.1");
        progress.accept("NATS " + nats.url() + " (pid " + nats.process().pid() + ")");
        saveState();
        frontend = TandemChild.start(launcher, "frontend", dir.resolve("frontend.log"), frontendArgs());
        saveState();
        for (ClusterFile.WorkerGroup g : spec.workers()) {
            for (int i = 0; i < g.count(); i++) {
                launchWorker(g);
            }
        }
        url = TandemChild.awaitFrontendUrl(frontend);
        progress.accept("frontend " + url + " (pid " + frontend.pid() + ")");
        for (ChildProcess w : workers) {
            awaitWorkerMetrics(w);
            progress.accept("worker " + w.name() + " (pid " + w.pid() + ")");
        }
        awaitJoined(spec.workerCount());
        saveState();
        writeTargets();
    }

    private ChildProcess launchWorker(ClusterFile.WorkerGroup g) {
        String kind = g.upstream() != null ? "upstream" : g.role().toLowerCase(Locale.ROOT);
        String id = spec.name() + "-" + kind + "-" + nextWorkerIndex.getAndIncrement();
        ChildProcess w = TandemChild.start(launcher, id, dir.resolve(id + ".log"), workerArgs(g, id));
        workers.add(w);
        targets.put(w, new PrometheusTargets.WorkerTarget(id, g.role().toLowerCase(Locale.ROOT), ""));
        saveState();
        return w;
    }

    /**
     * Waits until a worker is registered and notes its metrics endpoint (printed right after the
     * registration line; a worker whose file args turn metrics off has none and is no target).
     */
    private void awaitWorkerMetrics(ChildProcess w) {
        TandemChild.awaitWorker(w);
        String metricsUrl;
        try {
            metricsUrl = w.awaitOutput(METRICS_AT, METRICS_LINE_TIMEOUT);
        } catch (TandemException e) {
            if (!w.isAlive()) {
                throw e;
            }
            progress.accept("worker " + w.name() + " serves no metrics (--metrics-port off); no Prometheus target");
            return;
        }
        targets.computeIfPresent(w, (k, t) -> new PrometheusTargets.WorkerTarget(t.id(), t.role(), metricsUrl));
    }

    private void writeTargets() {
        List<PrometheusTargets.WorkerTarget> list = new ArrayList<>();
        for (ChildProcess w : workers) {
            PrometheusTargets.WorkerTarget t = targets.get(w);
            if (t != null && !t.metricsUrl().isEmpty()) {
                list.add(t);
            }
        }
        PrometheusTargets.write(dir, spec.name(), url, list);
    }

    /**
     * Starts one more worker like those of group {@code g} and returns once the frontend lists
     * it (for the planner).
     */
    public ChildProcess addWorker(ClusterFile.WorkerGroup g) {
        int before = workers.size();
        ChildProcess w = launchWorker(g);
        try {
            awaitWorkerMetrics(w);
        } catch (RuntimeException e) {
            workers.remove(w);
            targets.remove(w);
            w.stop(WORKER_STOP_GRACE);
            saveState();
            throw e;
        }
        awaitJoined(before + 1);
        writeTargets();
        return w;
    }

    /**
     * Stops the newest worker of {@code role}: SIGTERM, so it leaves the registry first, then
     * lets its running requests finish (its drain timeout) before it exits. Returns it, or
     * empty when no worker has that role.
     */
    public Optional<ChildProcess> removeWorker(String role) {
        for (ChildProcess w : workers.reversed()) {
            PrometheusTargets.WorkerTarget t = targets.get(w);
            if (t != null && t.role().equalsIgnoreCase(role)) {
                workers.remove(w);
                targets.remove(w);
                writeTargets();
                saveState();
                w.stop(WORKER_STOP_GRACE);
                return Optional.of(w);
            }
        }
        return Optional.empty();
    }

    /** Running workers of {@code role}. */
    public int workerCount(String role) {
        int n = 0;
        for (ChildProcess w : workers) {
            PrometheusTargets.WorkerTarget t = targets.get(w);
            if (t != null && t.role().equalsIgnoreCase(role) && w.isAlive()) {
                n++;
            }
        }
        return n;
    }

    /** The cluster file this cluster was started from. */
    public ClusterFile spec() {
        return spec;
    }

    private List<String> frontendArgs() {
        List<String> a = new ArrayList<>(List.of("frontend", "--registry", etcd.url(), "--events", nats.url(),
                "--namespace", spec.namespace(), "--port", Integer.toString(spec.frontend().port()),
                "--router", spec.frontend().router()));
        common(a);
        a.addAll(spec.frontend().args());
        return a;
    }

    private List<String> workerArgs(ClusterFile.WorkerGroup g, String id) {
        List<String> a = new ArrayList<>(List.of("worker", "--role", g.role(), "--registry", etcd.url(), "--events",
                nats.url(), "--namespace", spec.namespace(), "--instance-id", id, "--rpc-host", "127.0.0.1",
                "--advertise", "127.0.0.1"));
        common(a);
        if (spec.leaseTtlMs() != null) {
            a.addAll(List.of("--lease-ttl-ms", spec.leaseTtlMs().toString()));
        }
        if (g.upstream() != null) {
            a.addAll(List.of("--upstream", g.upstream()));
        }
        if (g.mock()) {
            a.add("--mock");
        }
        if (!g.args().contains("--metrics-port")) {
            a.addAll(List.of("--metrics-port", "0"));
        }
        a.addAll(g.args());
        return a;
    }

    private void common(List<String> a) {
        if (spec.model() != null) {
            a.addAll(List.of("--model", spec.model()));
        }
        if (spec.servedModelName() != null) {
            a.addAll(List.of("--served-model-name", spec.servedModelName()));
        }
    }

    /** Waits until the frontend's metrics list {@code count} workers. */
    private void awaitJoined(int count) {
        try (HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build()) {
            frontend.awaitCondition("to list all " + count + " workers", TandemChild.READY_TIMEOUT,
                    () -> joinedWorkers(http, url) >= count);
        }
    }

    /** Workers the frontend at {@code url} lists in its metrics (-1 if it does not answer). */
    public static int joinedWorkers(HttpClient http, String url) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(url + "/metrics"))
                    .timeout(Duration.ofSeconds(5)).build(), HttpResponse.BodyHandlers.ofString());
            return (int) r.body().lines().filter(l -> l.startsWith("tandem_frontend_worker_kv_usage{")).count();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    private void saveState() {
        List<ClusterState.Member> children = new ArrayList<>();
        add(children, etcd == null ? null : etcd.process());
        add(children, nats == null ? null : nats.process());
        add(children, frontend);
        for (ChildProcess w : workers) {
            add(children, w);
        }
        new ClusterState(spec.name(), url, ClusterState.Member.of(ProcessHandle.current(), "tandem up"), children)
                .write(dir);
    }

    private static void add(List<ClusterState.Member> out, ChildProcess p) {
        if (p != null && p.isAlive()) {
            ProcessHandle.of(p.pid()).ifPresent(h -> out.add(ClusterState.Member.of(h, p.name())));
        }
    }

    public String url() {
        return url;
    }

    public Path dir() {
        return dir;
    }

    /** Parts that have exited although the cluster is up (name and exit code), for warnings. */
    public List<String> exited() {
        List<String> out = new ArrayList<>();
        List<ChildProcess> all = new ArrayList<>(workers);
        if (frontend != null) {
            all.addFirst(frontend);
        }
        if (nats != null) {
            all.addFirst(nats.process());
        }
        if (etcd != null) {
            all.addFirst(etcd.process());
        }
        for (ChildProcess p : all) {
            if (!p.isAlive()) {
                out.add(p.name() + " (exit code " + p.exitCode().orElse(-1) + ", log " + p.log() + ")");
            }
        }
        return out;
    }

    /** Stops workers, frontend, NATS and etcd, in that order; deletes etcd's data and the state. Idempotent. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        List<Thread> stopping = new ArrayList<>();
        for (ChildProcess w : workers) {
            stopping.add(Thread.ofVirtual().start(() -> w.stop(WORKER_STOP_GRACE)));
        }
        for (Thread t : stopping) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        if (frontend != null) {
            frontend.stop(STOP_GRACE);
        }
        if (nats != null) {
            nats.stop();
        }
        if (etcd != null) {
            etcd.close();
        }
        deleteTree(dir.resolve("etcd-data"));
        try {
            Files.deleteIfExists(dir.resolve(ClusterState.FILE));
        } catch (IOException e) {
            progress.accept("cannot delete " + dir.resolve(ClusterState.FILE) + ": " + e.getMessage());
        }
    }

    private static void requireOnPath(String binary, String debianPackage) {
        String path = System.getenv("PATH");
        if (path != null) {
            for (String d : path.split(File.pathSeparator)) {
                if (!d.isEmpty() && Files.isExecutable(Path.of(d, binary))) {
                    return;
                }
            }
        }
        throw new ConfigException(binary + " is not on PATH (on Debian: apt-get install " + debianPackage + ")");
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> files = Files.walk(root)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // leave it: the next start deletes it again
        }
    }
}
