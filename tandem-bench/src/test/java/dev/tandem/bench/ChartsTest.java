package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ChartsTest {
    @Test
    void cdfPoints_threeValues_sortedWithCumulativeFractions() {
        double[][] xy = Charts.cdfPoints(new double[] {30, 10, 20});
        assertThat(xy[0]).containsExactly(10, 20, 30);
        assertThat(xy[1][0]).isCloseTo(1 / 3.0, within(1e-12));
        assertThat(xy[1][1]).isCloseTo(2 / 3.0, within(1e-12));
        assertThat(xy[1][2]).isEqualTo(1.0);
    }

    @Test
    void cdfPoints_manyValues_thinnedToAThousandKeepingBothEnds() {
        double[] values = new double[2001];
        for (int i = 0; i < values.length; i++) {
            values[i] = values.length - i; // 2001 .. 1
        }
        double[][] xy = Charts.cdfPoints(values);
        assertThat(xy[0]).hasSize(1000);
        assertThat(xy[0][0]).isEqualTo(1);
        assertThat(xy[1][0]).isEqualTo(1 / 2001.0);
        assertThat(xy[0][999]).isEqualTo(2001);
        assertThat(xy[1][999]).isEqualTo(1.0);
        for (int i = 1; i < 1000; i++) {
            assertThat(xy[0][i]).isGreaterThan(xy[0][i - 1]);
        }
    }

    @Test
    void write_comparisonOfSixRuns_everyChartWithDataWritten(@TempDir Path dir) {
        List<RunRecord> runs = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            RequestResult r = RequestResult.builder(0, 0, 0).chunkNs(5_000_000L * (i + 1), 6_000_000L * (i + 1))
                    .endNs(6_000_000L * (i + 1)).usage(32, 2, 16).build();
            runs.add(RunRecord.of("configuration " + i, null, new ArrivalMode.Concurrency(1),
                    new LoadRunner.Outcome(List.of(r), 0, 1_000_000_000, 0), Slo.NONE));
        }
        BenchReport report = new BenchReport("t", RunInfo.capture("x"), "target", "m", "w", true, runs, List.of(),
                List.of(new Claim("a", "b", "c", "d")));
        List<Charts.ChartFile> charts = Charts.write(report, dir);
        assertThat(charts).extracting(Charts.ChartFile::fileName).containsExactly("ttft_cdf.png", "itl_cdf.png",
                "e2e_cdf.png", "hit_rate.png", "throughput.png", "ttft_p50.png");
        assertThat(charts).allSatisfy(c -> assertThat(dir.resolve(c.fileName())).isNotEmptyFile());
        assertThat(charts.getFirst().caption()).contains("(SIMULATION)");
    }
}
