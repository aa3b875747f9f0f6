package dev.tandem.bench;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * The live progress line: requests done (and failed), request rate, and the current TTFT, ITL and
 * end-to-end medians. On a terminal it rewrites one line with carriage returns twice a second;
 * when stderr is a file or pipe it prints a plain line every 10 s instead; quiet prints nothing.
 *
 * <p>Safe for concurrent use: request threads report, one printer thread prints.
 */
public final class Progress implements LoadRunner.Listener, AutoCloseable {
    private static final long TTY_INTERVAL_MS = 500;
    private static final long PLAIN_INTERVAL_MS = 10_000;

    private final PrintStream err;
    private final boolean tty;
    private final String label;
    private final int total;
    private final long startNs = System.nanoTime();
    private final Object lock = new Object();
    private final Thread printer;
    private double[] ttft = new double[256]; // ms, guarded by lock
    private double[] itl = new double[256];  // ms, guarded by lock
    private double[] e2e = new double[256];  // ms, guarded by lock
    private int ttftCount;
    private int itlCount;
    private int done;
    private int failed;
    /** Set by close(); read by the printer thread. */
    private volatile boolean closed;

    private Progress(PrintStream err, boolean tty, String label, int total) {
        this.err = err;
        this.tty = tty;
        this.label = label;
        this.total = total;
        this.printer = Thread.ofVirtual().name("tandem-bench-progress").unstarted(this::loop);
    }

    /** A progress line on {@code err}; null when quiet. */
    public static Progress start(PrintStream err, boolean quiet, String label, int total) {
        return start(err, quiet, label, total, !quiet && stderrIsTerminal());
    }

    /** As above, with the terminal check decided by the caller. */
    static Progress start(PrintStream err, boolean quiet, String label, int total, boolean tty) {
        if (quiet) {
            return null;
        }
        Progress p = new Progress(err, tty, label, total);
        p.printer.start();
        return p;
    }

    /** True when file descriptor 2 is a terminal (Linux: /proc/self/fd/2 points at a tty). */
    static boolean stderrIsTerminal() {
        try {
            String target = Files.readSymbolicLink(Path.of("/proc/self/fd/2")).toString();
            return target.startsWith("/dev/pts/") || target.startsWith("/dev/tty");
        } catch (java.io.IOException | UnsupportedOperationException | SecurityException e) {
            java.io.Console c = System.console();
            return c != null && c.isTerminal();
        }
    }

    @Override
    public void finished(PreparedRequest request, RequestResult result) {
        synchronized (lock) {
            done++;
            if (!result.ok()) {
                failed++;
                return;
            }
            if (result.ttftNs() >= 0) {
                ttft = append(ttft, ttftCount++, result.ttftNs() / 1e6);
            }
            for (long gap : result.itlNs()) {
                itl = append(itl, itlCount++, gap / 1e6);
            }
            e2e = append(e2e, done - failed - 1, result.e2eNs() / 1e6);
        }
    }

    private static double[] append(double[] a, int index, double v) {
        double[] out = index < a.length ? a : java.util.Arrays.copyOf(a, a.length * 2);
        out[index] = v;
        return out;
    }

    String line() {
        synchronized (lock) {
            double seconds = (System.nanoTime() - startNs) / 1e9;
            int ok = done - failed;
            return String.format(Locale.ROOT, "[%s] %d/%d requests%s, %.2f req/s, p50 TTFT %s ms, ITL %s ms, E2E %s ms, %.0f s",
                    label, done, total, failed > 0 ? " (" + failed + " failed)" : "", done / Math.max(seconds, 1e-9),
                    median(ttft, ttftCount), median(itl, itlCount), median(e2e, ok), seconds);
        }
    }

    private static String median(double[] values, int count) {
        if (count == 0) {
            return "-";
        }
        double[] copy = java.util.Arrays.copyOf(values, count);
        java.util.Arrays.sort(copy);
        return MarkdownReport.fmt(Distribution.percentile(copy, 50));
    }

    private void loop() {
        long intervalMs = tty ? TTY_INTERVAL_MS : PLAIN_INTERVAL_MS;
        while (!closed) {
            try {
                Thread.sleep(intervalMs);
            } catch (InterruptedException e) {
                return;
            }
            if (!closed) {
                print(false);
            }
        }
    }

    private void print(boolean last) {
        String text = line();
        if (tty) {
            err.print("\r\033[K" + text + (last ? "\n" : ""));
        } else {
            err.println(text);
        }
        err.flush();
    }

    /** Stops the printer and prints the final line. */
    @Override
    public void close() {
        closed = true;
        printer.interrupt();
        try {
            printer.join(1000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        print(true);
    }
}
