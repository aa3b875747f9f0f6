package dev.tandem.runtime;

import dev.tandem.core.TandemException;
import dev.tandem.runtime.process.ChildProcess;
import dev.tandem.runtime.transfer.UcxSupport;
import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * What tests need from the machine beyond the JVM, checked in one place: etcd and nats-server on the
 * PATH, the UCX library, Node 20 with the official OpenAI npm client. {@code bin/setup} (run by
 * {@code bin/test}) installs every part. A missing part skips the test, saying what is missing and
 * the command that installs it; where the part's {@code TANDEM_REQUIRE_*} variable is 1 (CI sets
 * them) it fails the test instead, so that no part can go missing silently.
 *
 * <p>Shared with the other modules' tests through tandem-runtime's test jar.
 */
public final class Prerequisites {
    /** 1: a missing etcd or nats-server fails the tests that start them. */
    public static final String REQUIRE_SERVERS = "TANDEM_REQUIRE_SERVERS";
    /** 1: UCX that cannot be loaded fails the UCX transport tests. */
    public static final String REQUIRE_UCX = "TANDEM_REQUIRE_UCX";
    /** 1: a missing Node 20 or OpenAI npm client fails the official-client test. */
    public static final String REQUIRE_JS_CLIENT = "TANDEM_REQUIRE_JS_CLIENT";

    /** The first build of llama-server on a CI machine takes minutes: once per JVM, with a generous deadline. */
    private static final long LLAMA_SERVER_BUILD_MINUTES = 30;
    private static final Map<Path, Path> LLAMA_SERVER = new ConcurrentHashMap<>();

    /** Skip reasons already printed by this JVM. */
    private static final Set<String> REPORTED = ConcurrentHashMap.newKeySet();

    private Prerequisites() {
    }

    /** etcd and nats-server, as a multi-process cluster starts them. */
    public static void servers() {
        etcd();
        natsServer();
    }

    public static void etcd() {
        server("etcd", "etcd-server", System.getenv("PATH"), System.getenv());
    }

    public static void natsServer() {
        server("nats-server", "nats-server", System.getenv("PATH"), System.getenv());
    }

    /**
     * llama.cpp's {@code llama-server}, built once (cached; a few minutes the first time) by the
     * {@code server.sh} script at {@code script}; returns the binary. A missing script or a failed
     * build skips the test, or fails it under {@code TANDEM_REQUIRE_SERVERS=1}.
     */
    public static Path llamaServer(Path script) {
        Path binary = LLAMA_SERVER.computeIfAbsent(script.toAbsolutePath().normalize(), Prerequisites::buildLlamaServer);
        check(binary.toString().startsWith("/") && Files.isExecutable(binary), REQUIRE_SERVERS, System.getenv(),
                () -> "llama-server could not be built by " + script + ": " + binary + " (needs cmake and g++: "
                        + "apt-get install -y cmake g++, then tools/llamacpp/server.sh --path)");
        return binary;
    }

    /** The binary server.sh prints, or the reason it printed none (not an absolute path). */
    private static Path buildLlamaServer(Path script) {
        if (!Files.isExecutable(script)) {
            return Path.of("no-script: " + script + " is missing");
        }
        try {
            Path log = Files.createTempFile("llama-server-build", ".log");
            Path printed = Files.createTempFile("llama-server-path", ".txt");
            Process p = new ProcessBuilder(script.toString(), "--path").redirectError(log.toFile())
                    .redirectOutput(printed.toFile()).start();
            boolean ended = p.waitFor(LLAMA_SERVER_BUILD_MINUTES, TimeUnit.MINUTES);
            String out = Files.readString(printed).trim();
            if (!ended) {
                p.destroyForcibly();
                return Path.of("timeout: the build took over " + LLAMA_SERVER_BUILD_MINUTES + " minutes, see " + log);
            }
            return p.exitValue() == 0 && !out.isEmpty() ? Path.of(out.lines().reduce((a, b) -> b).orElse(out))
                    : Path.of("failed: exit " + p.exitValue() + ", see " + log);
        } catch (IOException e) {
            return Path.of("failed: " + e.getMessage());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Path.of("interrupted");
        }
    }

    /** Prometheus' server and promtool (Debian package prometheus), for deploy/prometheus's tests. */
    public static void prometheus() {
        server("prometheus", "prometheus", System.getenv("PATH"), System.getenv());
        server("promtool", "prometheus", System.getenv("PATH"), System.getenv());
    }

    /** {@code command} on {@code path}, from the Debian package {@code debianPackage}. */
    static void server(String command, String debianPackage, String path, Map<String, String> env) {
        check(onPath(command, path), REQUIRE_SERVERS, env, () -> command + " is not on the PATH: run bin/setup, "
                + "or install the Debian package " + debianPackage + " (apt-get install -y " + debianPackage + ")");
    }

    /**
     * A Python 3 with ZeroMQ and MessagePack (Debian's python3-zmq and python3-msgpack, installed by
     * bin/setup), for the KV event publisher that sends vLLM's exact messages; returns its path.
     */
    public static String pythonWithZmq() {
        String python = Files.isExecutable(Path.of("/usr/bin/python3")) ? "/usr/bin/python3" : "python3";
        check(pythonImports(python, "zmq", "msgpack"), REQUIRE_SERVERS, System.getenv(), () -> python
                + " cannot import zmq and msgpack: run bin/setup, or install the Debian packages python3-zmq and "
                + "python3-msgpack (apt-get install -y python3-zmq python3-msgpack)");
        return python;
    }

    static boolean pythonImports(String python, String... modules) {
        try {
            return ChildProcess.run(List.of(python, "-c", "import " + String.join(", ", modules)),
                    Duration.ofSeconds(30)).exitCode() == 0;
        } catch (TandemException e) {
            return false;   // not startable, or no answer in time
        }
    }

    public static void ucx() {
        check(UcxSupport.available(), REQUIRE_UCX, System.getenv(),
                () -> UcxSupport.unavailableReason() + "; bin/setup installs libucx0");
    }

    /** Node 20 or newer on the PATH and the openai package installed under {@code jsDir} (npm ci). */
    public static void nodeClient(Path jsDir) {
        String version = nodeVersion();
        check(majorVersion(version) >= 20, REQUIRE_JS_CLIENT, System.getenv(), () -> "node 20 or newer is needed on "
                + "the PATH (found: " + version + "): run the tests with bin/test, whose bin/setup installs Node 20 "
                + "through npm where the system's is older and puts it on the PATH");
        check(Files.isDirectory(jsDir.resolve("node_modules/openai")), REQUIRE_JS_CLIENT, System.getenv(),
                () -> "the openai npm package is not installed in " + jsDir.toAbsolutePath().normalize()
                        + ": run bin/setup, or 'npm ci' in that folder");
    }

    /**
     * Returns if {@code present}; otherwise fails the test when {@code requireVariable} is 1 in
     * {@code env}, and skips it (a JUnit assumption, with the reason) when not.
     */
    static void check(boolean present, String requireVariable, Map<String, String> env, Supplier<String> missing) {
        if (present) {
            return;
        }
        if ("1".equals(env.get(requireVariable))) {
            throw new AssertionError(missing.get() + " (required here: " + requireVariable + "=1)");
        }
        String reason = missing.get() + " (skipped; " + requireVariable + "=1 makes it a failure)";
        if (REPORTED.add(reason)) {
            // Maven's console counts skipped tests but does not show why: say it once per reason
            System.err.println("[SKIPPED] " + reason);
        }
        Assumptions.abort(reason);
    }

    /** True if an executable file {@code command} is in one of {@code path}'s folders. */
    static boolean onPath(String command, String path) {
        if (path == null) {
            return false;
        }
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, command))
                    && !Files.isDirectory(Path.of(dir, command))) {
                return true;
            }
        }
        return false;
    }

    /** {@code node --version} (for example "v20.20.2"), or "none" without a node on the PATH. */
    static String nodeVersion() {
        ChildProcess.Finished f;
        try {
            f = ChildProcess.run(List.of("node", "--version"), Duration.ofSeconds(30));
        } catch (TandemException e) {
            return e.getMessage().startsWith("cannot run") ? "none" : "none (" + e.getMessage().lines().findFirst()
                    .orElse("") + ")";
        }
        String out = f.output().trim();
        return f.succeeded() ? out : "none (node --version failed: " + out + ")";
    }

    /** 20 for "v20.20.2"; 0 for anything else. */
    static int majorVersion(String nodeVersion) {
        Matcher m = Pattern.compile("^v(\\d+)\\.").matcher(nodeVersion);
        return m.find() ? Integer.parseInt(m.group(1)) : 0;
    }
}
