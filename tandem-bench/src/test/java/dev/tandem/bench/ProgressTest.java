package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class ProgressTest {
    private static final long MS = 1_000_000;

    /** A successful request: start 0, chunks at the given ms, end at the last one. */
    private static RequestResult ok(long... chunkMs) {
        long[] ns = new long[chunkMs.length];
        for (int i = 0; i < ns.length; i++) {
            ns[i] = chunkMs[i] * MS;
        }
        return RequestResult.builder(0, 0, 0).chunkNs(ns).endNs(ns[ns.length - 1]).usage(4, ns.length, 0).build();
    }

    @Test
    void start_quiet_noProgressAndNothingPrinted() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        assertThat(Progress.start(new PrintStream(bytes), true, "c=1", 3, true)).isNull();
        assertThat(bytes.size()).isZero();
    }

    @Test
    void line_finishedAndFailedRequests_countsAndCurrentMedians() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = Progress.start(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, "c=2", 5, false);
        p.finished(null, ok(10, 12, 16));        // TTFT 10, gaps 2 and 4, E2E 16
        p.finished(null, ok(30, 31));            // TTFT 30, gap 1, E2E 31
        p.finished(null, ok(20, 26, 27));        // TTFT 20, gaps 6 and 1, E2E 27
        p.finished(null, RequestResult.builder(1, 0, 0).endNs(5 * MS).error("http_500", "boom").build());

        // TTFT {10, 20, 30} -> 20; ITL {1, 1, 2, 4, 6} -> 2; E2E {16, 27, 31} -> 27
        assertThat(p.line()).startsWith("[c=2] 4/5 requests (1 failed), ")
                .contains("p50 TTFT 20.0 ms, ITL 2.00 ms, E2E 27.0 ms");
        p.close();
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertThat(printed).startsWith("[c=2] 4/5 requests (1 failed)").endsWith("\n").doesNotContain("\r");
    }

    @Test
    void close_terminal_rewritesOneLineAndEndsIt() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        Progress p = Progress.start(new PrintStream(bytes, true, StandardCharsets.UTF_8), false, "rate=2.0/s", 1, true);
        p.finished(null, ok(7, 9));
        p.close();
        String printed = bytes.toString(StandardCharsets.UTF_8);
        assertThat(printed).endsWith("\n").contains("\r\033[K[rate=2.0/s] 1/1 requests, ")
                .contains("p50 TTFT 7.00 ms, ITL 2.00 ms, E2E 9.00 ms");
    }

    @Test
    void line_nothingFinished_dashesInsteadOfMedians() {
        Progress p = Progress.start(new PrintStream(new ByteArrayOutputStream()), false, "c=1", 2, false);
        assertThat(p.line()).startsWith("[c=1] 0/2 requests, ").contains("p50 TTFT - ms, ITL - ms, E2E - ms");
        p.close();
    }
}
