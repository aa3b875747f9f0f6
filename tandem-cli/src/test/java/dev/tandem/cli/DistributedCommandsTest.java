package dev.tandem.cli;

import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import dev.tandem.cli.CommandRunner.Running;
import dev.tandem.runtime.registry.WorkerSetTracker;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * {@code tandem frontend} and {@code tandem worker} in one JVM, joined through an in-memory
 * registry and event bus ({@code memory://}): the command wiring, discovery and shutdown. The
 * multi-process versions with etcd and NATS are in tandem-system-tests.
 */
@Timeout(180)
class DistributedCommandsTest {
    private final CommandRunner commands = new CommandRunner();

    @AfterEach
    void tearDown() throws InterruptedException {
        commands.stopAll();
    }

    private static String modelFile() {
        return Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf").toString();
    }

    private Running<FrontendCommand> frontend(String name, String... extra) {
        FrontendCommand cmd = new FrontendCommand();
        List<String> args = new ArrayList<>(List.of("--registry", "memory://" + name, "--events", "memory://" + name,
                "--model", modelFile(), "--port", "0", "--probe-interval-ms", "100"));
        args.addAll(List.of(extra));
        Running<FrontendCommand> r = commands.run(cmd, cmd.foreground, args.toArray(String[]::new));
        await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null || !r.thread().isAlive());
        assertThat(cmd.running).as("frontend started").isNotNull();
        return r;
    }

    private Running<WorkerCommand> worker(String name, String id, String... extra) {
        WorkerCommand cmd = new WorkerCommand();
        List<String> args = new ArrayList<>(List.of("--registry", "memory://" + name, "--events", "memory://" + name,
                "--model", modelFile(), "--instance-id", id, "--mock", "--mock-speedup", "20", "--kv-blocks", "256",
                "--rpc-host", "127.0.0.1", "--drain-timeout-ms", "2000"));
        args.addAll(List.of(extra));
        Running<WorkerCommand> r = commands.run(cmd, cmd.foreground, args.toArray(String[]::new));
        await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null || !r.thread().isAlive());
        assertThat(cmd.running).as("worker " + id + " started").isNotNull();
        return r;
    }

    private static HttpResponse<String> get(HttpClient client, String url) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(url)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpResponse<String> complete(HttpClient client, String base, String prompt) throws Exception {
        return client.send(HttpRequest.newBuilder(URI.create(base + "/v1/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"" + prompt + "\", \"max_tokens\": 3}"))
                        .build(), HttpResponse.BodyHandlers.ofString());
    }

    @Test
    void frontendThenWorkers_memoryRuntime_requestsReachEveryWorkerAndStoppedWorkersLeave() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        Running<FrontendCommand> fe = frontend("cluster-a", "--router", "round-robin");
        String url = fe.command().running.url();
        try (HttpClient client = HttpClient.newHttpClient()) {
            assertThat(get(client, url + "/ready").statusCode()).isEqualTo(503);

            Running<WorkerCommand> w1 = worker("cluster-a", "w1");
            Running<WorkerCommand> w2 = worker("cluster-a", "w2");
            await().atMost(Duration.ofSeconds(20)).until(() -> fe.command().running.workers().all().size() == 2);
            for (int i = 0; i < 6; i++) {
                HttpResponse<String> r = complete(client, url, "Once upon a time " + i);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            }

            assertThat(w1.command().running.engine().load().promptTokens()).isPositive();
            assertThat(w2.command().running.engine().load().promptTokens()).isPositive();
            w1.stop();
            w2.stop();
            assertThat(w1.exit().get()).isZero();
            assertThat(fe.command().running.workers().all()).isEmpty();
            assertThat(get(client, url + "/ready").statusCode()).isEqualTo(503);
        }
        fe.stop();
        assertThat(fe.exit().get()).isZero();
        await().atMost(Duration.ofSeconds(15)).untilAsserted(() -> assertThat(leftBehind(before)).isEmpty());
    }

    @Test
    void worker_blockSizeOtherThanTheFrontends_isRefusedWithALogLineAndNeverUsed() throws Exception {
        ListAppender<ILoggingEvent> logs = new ListAppender<>();
        Logger tracker = ((LoggerContext) LoggerFactory.getILoggerFactory()).getLogger(WorkerSetTracker.class.getName());
        logs.start();
        tracker.addAppender(logs);
        try {
            Running<FrontendCommand> fe = frontend("cluster-b", "--block-size", "16");
            worker("cluster-b", "wide", "--block-size", "32");
            worker("cluster-b", "fits");

            await().atMost(Duration.ofSeconds(20)).until(() -> fe.command().running.workers().all().size() == 1);
            Thread.sleep(300);
            assertThat(fe.command().running.workers().all()).extracting(w -> w.id()).containsExactly("fits");
            assertThat(logs.list).extracting(ILoggingEvent::getFormattedMessage)
                    .anyMatch(m -> m.contains("[worker=wide] refused") && m.contains("block size 16")
                            && m.contains("has 32"));
        } finally {
            tracker.detachAppender(logs);
        }
    }

    @Test
    void worker_badArguments_oneClearErrorEach() {
        assertThat(fails("worker", "--registry", "zk://h:1", "--events", "memory://x", "--model", modelFile(), "--mock"))
                .startsWith("error: --registry 'zk://h:1' must be etcd://host:port");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "kafka://h:1", "--model", modelFile(), "--mock"))
                .startsWith("error: --events 'kafka://h:1' must be nats://host:port");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--role", "chef", "--mock"))
                .startsWith("error: unknown role 'chef'");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--transfer", "pigeon", "--mock"))
                .startsWith("error: --transfer: unknown KV transport 'pigeon'");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--rpc-port", "99999",
                "--model", modelFile(), "--mock")).startsWith("error: --rpc-port must be in [0, 65535], got 99999");
        assertThat(fails("frontend", "--registry", "memory://x", "--events", "memory://x", "--model", modelFile(),
                "--router", "direct")).startsWith("error: unknown router policy 'direct'");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--model", modelFile(),
                "--kv-events", "tcp://127.0.0.1:5557")).startsWith("error: --kv-events and --kv-events-replay need --upstream");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--model", modelFile(),
                "--upstream", "http://127.0.0.1:1", "--kv-events", "udp://h:1"))
                .startsWith("error: ").contains("must be tcp://HOST:PORT");
        assertThat(fails("worker", "--registry", "memory://x", "--events", "memory://x", "--model", modelFile(),
                "--upstream", "http://127.0.0.1:1", "--kv-events-replay", "tcp://h:2"))
                .startsWith("error: --kv-events-replay needs --kv-events");
    }

    @Test
    void worker_etcdNotListening_failsWithinTheRegistryDeadlineNamingIt() {
        System.setProperty("tandem.runtime.registry-timeout-ms", "1000");
        try {
            long t0 = System.nanoTime();
            String err = fails("worker", "--registry", "etcd://127.0.0.1:9", "--events", "memory://x",
                    "--model", modelFile(), "--mock", "--connect-timeout-ms", "2000");
            assertThat(err).startsWith("error: etcd at etcd://127.0.0.1:9: cannot reach etcd");
            assertThat(Duration.ofNanos(System.nanoTime() - t0)).isLessThan(Duration.ofSeconds(15));
        } finally {
            System.clearProperty("tandem.runtime.registry-timeout-ms");
        }
    }

    /** Runs a command that must fail; returns its stderr. */
    private static String fails(String... args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cli = Main.newCommandLine();
        cli.setErr(new PrintWriter(new PrintStream(err, true, StandardCharsets.UTF_8), true));
        int code = cli.execute(args);
        String text = err.toString(StandardCharsets.UTF_8);
        assertThat(code).as(text).isEqualTo(1);
        assertThat(text).doesNotContain("Exception");
        return text;
    }

    /** Threads started since {@code before} that still run: non-daemon ones, and any of Tandem's. */
    private static Set<String> leftBehind(Set<Thread> before) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !before.contains(t) && t.isAlive() && !t.getName().startsWith("awaitility"))
                .filter(t -> !t.isDaemon() || t.getName().startsWith("tandem"))
                .filter(t -> !t.getName().startsWith("tandem-registry-ticker")) // the shared memory:// registries
                .map(Thread::getName)
                .collect(Collectors.toSet());
    }
}
