package dev.tandem.systemtests;

import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

/**
 * {@code tandem serve} in its own JVM (a {@link ChildProcess}), started from the test classpath,
 * on a free port; what it prints (the URL line, "Tandem stopped", its logs) goes to a file under
 * target/.
 */
final class ServeProcess implements AutoCloseable {
    private static final Pattern URL = Pattern.compile("OpenAI API at (http://\\S+)/v1");

    private final ChildProcess process;
    final Path log;

    private ServeProcess(ChildProcess process) {
        this.process = process;
        this.log = process.log();
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
        Path log = Path.of("target", "serve-logs", name + ".log");
        Files.deleteIfExists(log);
        return new ServeProcess(ChildProcess.start("tandem serve", cmd, log));
    }

    /** The base URL ({@code http://host:port}), once the server listens. */
    String awaitUrl(long timeoutSeconds) {
        return process.awaitOutput(URL, Duration.ofSeconds(timeoutSeconds));
    }

    /** Asks the server to stop (SIGTERM, as Ctrl-C would with SIGINT) and waits for the process. */
    boolean stop(long timeoutSeconds) {
        return process.terminate(Duration.ofSeconds(timeoutSeconds));
    }

    /** Sends SIGINT, as Ctrl-C in a terminal does, and waits for the process. */
    boolean interrupt(long timeoutSeconds) {
        process.signal("INT");
        return process.awaitExit(Duration.ofSeconds(timeoutSeconds)).isPresent();
    }

    int exitValue() {
        return process.exitCode().orElseThrow();
    }

    /** The lines it printed (stdout and stderr). */
    List<String> stdout() {
        return process.output().lines().toList();
    }

    String logText() {
        return process.output();
    }

    @Override
    public void close() {
        process.kill();
    }
}
