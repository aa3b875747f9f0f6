package dev.tandem.cli.planner;

import dev.tandem.core.ProtocolException;
import java.util.Map;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** Scrapes of the frontend's metrics text turned into the planner's observations. */
class MetricsWindowTest {
    /** A frontend scrape: TTFT histogram with {@code fast} observations under 0.1 s and {@code slow} under 1 s. */
    private static String scrape(int fast, int slow, int queued, int decodeWaiting) {
        return """
                # HELP tandem_frontend_time_to_first_token_seconds Request arrival to its first token
                # TYPE tandem_frontend_time_to_first_token_seconds histogram
                tandem_frontend_time_to_first_token_seconds_bucket{le="0.1"} %d
                tandem_frontend_time_to_first_token_seconds_bucket{le="1.0"} %d
                tandem_frontend_time_to_first_token_seconds_bucket{le="+Inf"} %d
                tandem_frontend_time_to_first_token_seconds_count %d
                tandem_frontend_inter_token_latency_seconds_bucket{le="0.01"} 100
                tandem_frontend_inter_token_latency_seconds_bucket{le="+Inf"} 100
                tandem_frontend_requests_queued %d
                tandem_frontend_workers{role="aggregated"} 0.0
                tandem_frontend_workers{role="prefill"} 1.0
                tandem_frontend_workers{role="decode"} 2.0
                tandem_frontend_worker_info{role="prefill",worker="p0"} 1.0
                tandem_frontend_worker_info{role="decode",worker="d0"} 1.0
                tandem_frontend_worker_info{role="decode",worker="d1"} 1.0
                tandem_frontend_worker_waiting{worker="p0"} 2.0
                tandem_frontend_worker_waiting{worker="d0"} %d
                tandem_frontend_worker_waiting{worker="d1"} 1.0
                tandem_frontend_worker_kv_usage{worker="p0"} 0.9
                tandem_frontend_worker_kv_usage{worker="d0"} 0.2
                tandem_frontend_worker_kv_usage{worker="d1"} 0.4
                """.formatted(fast, fast + slow, fast + slow, fast + slow, queued, decodeWaiting);
    }

    @Test
    void observation_measuresTheWindowsGrowth_andTheNewestGauges() {
        MetricsWindow w = new MetricsWindow(10_000);
        w.add(0, MetricsText.parse(scrape(1000, 0, 0, 0)));
        assertThat(w.ready()).isFalse();
        w.add(2_000, MetricsText.parse(scrape(1010, 90, 3, 4)));

        Observation o = w.observe();

        // 100 new first tokens, 90 of them between 0.1 and 1 s: p95 = 0.1 + 0.9 * (95 - 10) / 90
        assertThat(o.requests()).isEqualTo(100);
        assertThat(o.ttftP95Ms()).isCloseTo(950, within(0.01));
        assertThat(o.itlP95Ms()).isNaN(); // no new inter-token observations in the window
        assertThat(o).extracting(Observation::queued, Observation::prefillWaiting, Observation::decodeWaiting)
                .containsExactly(3, 2, 5);
        assertThat(o.decodeKvUsage()).isCloseTo(0.3, within(1e-9));
        assertThat(w.workers(Pool.PREFILL)).isEqualTo(1);
        assertThat(w.workers(Pool.DECODE)).isEqualTo(2);
    }

    @Test
    void window_forgetsScrapesOlderThanItsLength() {
        MetricsWindow w = new MetricsWindow(10_000);
        w.add(0, MetricsText.parse(scrape(0, 1000, 0, 0)));       // slow, long ago
        w.add(10_000, MetricsText.parse(scrape(0, 1000, 0, 0)));
        w.add(20_000, MetricsText.parse(scrape(100, 1000, 0, 0))); // 100 fast ones in the last 10 s

        assertThat(w.observe().requests()).isEqualTo(100);
        assertThat(w.observe().ttftP95Ms()).isLessThan(100);
    }

    @Test
    void histogram_quantileAndResets() {
        Histogram h = new Histogram(Map.of(0.5, 50.0, 1.0, 100.0, Double.POSITIVE_INFINITY, 100.0));
        Histogram restarted = new Histogram(Map.of(0.5, 5.0, 1.0, 5.0, Double.POSITIVE_INFINITY, 5.0));

        assertThat(h.quantile(0.5)).isEqualTo(0.5);
        assertThat(h.quantile(0.75)).isEqualTo(0.75);
        assertThat(Histogram.EMPTY.quantile(0.5)).isNaN();
        assertThat(restarted.minus(h).count()).isEqualTo(5); // a restarted frontend counts from zero
        assertThat(new Histogram(Map.of(1.0, 0.0, Double.POSITIVE_INFINITY, 10.0)).quantile(0.9)).isEqualTo(1.0);
    }

    @Test
    void metricsText_readsLabelsAndSpecialValues_andNamesABadLine() {
        MetricsText m = MetricsText.parse("a{x=\"1\",y=\"q\\\"uote\"} 2.5\nb +Inf\n# comment\nc NaN\n");

        assertThat(m.all("a").getFirst().labels()).containsEntry("x", "1").containsEntry("y", "q\"uote");
        assertThat(m.sum("a")).isEqualTo(2.5);
        assertThat(m.sum("b")).isInfinite();
        assertThat(m.sum("missing")).isZero();
        assertThatThrownBy(() -> MetricsText.parse("ok 1\nbroken\n")).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("line 2");
    }
}
