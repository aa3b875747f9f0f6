package dev.tandem.systemtests;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * {@code tandem serve} in its own JVM, started from the test classpath, on a free port. Its
 * stdout is collected (the URL line, "Tandem stopped"); its stderr (logs) goes to a file under
 * target/.
 */
final class ServeProcess implements AutoCloseable {
    private static final Pattern URL = Pattern.compile("OpenAI API at (http://\\S+)/v1");

    private final Process process;
    private final List<String> stdout = new CopyOnWriteArrayList<>();
    private final CompletableFuture<String> url = new CompletableFuture<>();
    private final Thread pump;
    final Path log;

    private ServeProcess(Process process, Path log) {
        this.process = process;
        this.log = log;
        this.pump = Thread.ofVirtual().start(this::pump);
    }

    /**
     * A process started in the background by a shell inherits SIGINT as ignored, and a JVM
     * started with SIGINT ignored installs no handler for it, so Ctrl-C could not be tested
     * under such a runner. GNU env restores the default disposition before it executes java.
     */
    private static final List<String> SIGINT_DEFAULT = sigintDefaultPrefix();

    private static List<String> sigintDefaultPrefix() {
        List<String> prefix = List.of("/usr/bin/env", "--default-signal=INT");
        try {
            Process probe = new ProcessBuilder(prefix.getFirst(), prefix.getLast(), "true").start();
            return probe.waitFor(10, TimeUnit.SECONDS) && probe.exitValue() == 0 ? prefix : List.of();
        } catch (IOException e) {
            return List.of();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return List.of();
        }
    }

    static ServeProcess start(String name, String... serveArgs) throws IOException {
        String javaBin = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String classpath = System.getProperty("surefire.test.class.path", System.getProperty("java.class.path"));
        List<String> cmd = new ArrayList<>(SIGINT_DEFAULT);
        cmd.addAll(List.of(javaBin, "--add-modules=jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow", "-Xmx1g",
                "-cp", classpath, "dev.tandem.cli.Main", "serve"));
        cmd.addAll(List.of(serveArgs));
        Path dir = Path.of("target", "serve-logs");
        Files.createDirectories(dir);
        Path log = dir.resolve(name + ".log");
        Process p = new ProcessBuilder(cmd).redirectError(log.toFile()).start();
        return new ServeProcess(p, log);
    }

    private void pump() {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
            for (String line = r.readLine(); line != null; line = r.readLine()) {
                stdout.add(line);
                Matcher m = URL.matcher(line);
                if (m.find()) {
                    url.complete(m.group(1));
                }
            }
        } catch (IOException e) {
            url.completeExceptionally(e);
        }
        url.completeExceptionally(new IllegalStateException("tandem serve exited before listening; see " + log));
    }

    /** The base URL ({@code http://host:port}), once the server listens. */
    String awaitUrl(long timeoutSeconds) throws Exception {
        return url.get(timeoutSeconds, TimeUnit.SECONDS);
    }

    /** Asks the server to stop (SIGTERM, as Ctrl-C would with SIGINT) and waits for the process. */
    boolean stop(long timeoutSeconds) throws InterruptedException {
        // ProcessHandle.destroy sends SIGTERM and, unlike Process.destroy, leaves the pipes open,
        // so what the server prints while shutting down is still read
        process.toHandle().destroy();
        boolean exited = process.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        pump.join(java.time.Duration.ofSeconds(10));
        return exited;
    }

    /** Sends SIGINT, as Ctrl-C in a terminal does, and waits for the process. */
    boolean interrupt(long timeoutSeconds) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-INT", Long.toString(process.pid())).inheritIO().start();
        if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
            throw new IllegalStateException("kill -INT " + process.pid() + " failed");
        }
        boolean exited = process.waitFor(timeoutSeconds, TimeUnit.SECONDS);
        pump.join(java.time.Duration.ofSeconds(10));
        return exited;
    }

    int exitValue() {
        return process.exitValue();
    }

    List<String> stdout() {
        return stdout;
    }

    String logText() {
        try {
            return Files.readString(log);
        } catch (IOException e) {
            return "(no log: " + e + ")";
        }
    }

    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
    }
}
