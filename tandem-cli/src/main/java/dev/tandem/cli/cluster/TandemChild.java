package dev.tandem.cli.cluster;

import dev.tandem.runtime.process.ChildProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;

/** Starts {@code tandem frontend} and {@code tandem worker} in child JVMs and reads what they print when ready. */
public final class TandemChild {
    /** The line {@code tandem frontend} (and {@code serve}) prints once it listens. */
    public static final Pattern FRONTEND_URL = Pattern.compile("OpenAI API at (http://\\S+)/v1");
    /** The line {@code tandem worker} prints once it is registered; group 1 is its instance id. */
    public static final Pattern WORKER_READY = Pattern.compile("Tandem worker (\\S+) serving model");
    /** Longest wait for a child JVM to be ready (start-ups are slow on a busy machine). */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(180);

    private TandemChild() {
    }

    /** Starts {@code tandem args...}; output to {@code log}. */
    public static ChildProcess start(JavaLauncher launcher, String name, Path log, List<String> args) {
        return ChildProcess.start(name, launcher.command(args), log);
    }

    /** Waits for a frontend's URL ({@code http://host:port}). */
    public static String awaitFrontendUrl(ChildProcess frontend) {
        return frontend.awaitOutput(FRONTEND_URL, READY_TIMEOUT);
    }

    /** Waits until a worker is registered; returns its instance id. */
    public static String awaitWorker(ChildProcess worker) {
        return worker.awaitOutput(WORKER_READY, READY_TIMEOUT);
    }
}
