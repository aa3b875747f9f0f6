package dev.tandem.cli;

import dev.tandem.engine.gguf.GgufWriter;
import java.io.PrintWriter;

/** A self-overwriting progress line on stderr: "label: 512.0/1170.3 MB (44%) 3.1 s". */
final class ProgressLine implements GgufWriter.Progress {
    private static final long MIN_INTERVAL_NS = 200_000_000L;

    private final PrintWriter err;
    private final String label;
    private final long startNs;
    private long lastPrintNs;
    private long lastDoneBytes;
    private long lastTotalBytes;

    ProgressLine(PrintWriter err, String label, long startNs) {
        this.err = err;
        this.label = label;
        this.startNs = startNs;
    }

    @Override
    public void update(long doneBytes, long totalBytes) {
        lastDoneBytes = doneBytes;
        lastTotalBytes = totalBytes;
        long now = System.nanoTime();
        if (now - lastPrintNs >= MIN_INTERVAL_NS) {
            lastPrintNs = now;
            print(now, "\r");
        }
    }

    void finish() {
        print(System.nanoTime(), "\r");
        double seconds = (System.nanoTime() - startNs) / 1e9;
        err.printf(" done, %.0f MB/s%n", lastDoneBytes / 1e6 / Math.max(seconds, 1e-9));
    }

    private void print(long now, String prefix) {
        double seconds = (now - startNs) / 1e9;
        long percent = lastTotalBytes == 0 ? 100 : lastDoneBytes * 100 / lastTotalBytes;
        err.printf("%s%s: %.1f/%.1f MB (%d%%) %.1f s", prefix, label, lastDoneBytes / 1e6, lastTotalBytes / 1e6,
                percent, seconds);
        err.flush();
    }
}
