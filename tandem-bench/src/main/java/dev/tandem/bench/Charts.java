package dev.tandem.bench;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.CategoryChartBuilder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.internal.chartpart.IChart;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

/**
 * PNG charts of a report, drawn headless with XChart: latency CDFs (TTFT, ITL, end-to-end) with
 * one line per run, throughput against concurrency when the report sweeps concurrency, and
 * per-run bars for the cache hit rate (and, for comparisons, throughput and TTFT).
 */
public final class Charts {
    private static final int WIDTH = 720;
    private static final int HEIGHT = 440;
    private static final int MAX_CDF_POINTS = 1000;
    static final int ROTATE_LABELS_ABOVE = 4;

    /** A chart written to disk. */
    public record ChartFile(String fileName, String caption) {
    }

    private Charts() {
    }

    /** Writes every chart that has data into {@code dir}; returns them in a stable order. */
    public static List<ChartFile> write(BenchReport report, Path dir) {
        System.setProperty("java.awt.headless", "true");
        String suffix = report.simulated() ? " (SIMULATION)" : "";
        List<ChartFile> out = new ArrayList<>();
        cdf(report, dir, out, "ttft_cdf.png", "Time to first token" + suffix, "TTFT (ms)", Samples::ttftMs);
        cdf(report, dir, out, "itl_cdf.png", "Inter-token latency" + suffix, "ITL (ms)", Samples::itlMs);
        cdf(report, dir, out, "e2e_cdf.png", "End-to-end latency" + suffix, "end-to-end (ms)", Samples::e2eMs);
        List<RunRecord> sweep = report.runs().stream().filter(r -> r.arrival() instanceof ArrivalMode.Concurrency)
                .toList();
        if (sweep.size() >= 2 && report.claims().isEmpty()) {
            throughputVsConcurrency(sweep, dir, out, suffix);
        }
        List<RunRecord> withHits = report.runs().stream().filter(r -> r.summary().cacheHitRate() != null).toList();
        if (!withHits.isEmpty()) {
            bars(dir, out, "hit_rate.png", "Prefix cache hit rate" + suffix, "hit rate (%)", withHits,
                    r -> 100 * r.summary().cacheHitRate());
        }
        if (!report.claims().isEmpty()) {
            bars(dir, out, "throughput.png", "Output throughput" + suffix, "output tokens/s", report.runs(),
                    r -> r.summary().outputTokensPerS());
            bars(dir, out, "ttft_p50.png", "Median time to first token" + suffix, "TTFT p50 (ms)", report.runs(),
                    r -> nanToZero(r.summary().ttftMs().p50()));
        }
        return out;
    }

    private static void cdf(BenchReport report, Path dir, List<ChartFile> out, String file, String title,
                            String xTitle, java.util.function.Function<Samples, double[]> metric) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title).xAxisTitle(xTitle)
                .yAxisTitle("fraction of samples").build();
        style(chart.getStyler());
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideSE);
        chart.getStyler().setYAxisMin(0.0).setYAxisMax(1.0);
        chart.getStyler().setYAxisDecimalPattern("0.0#").setYAxisTickMarkSpacingHint(60);
        int series = 0;
        for (RunRecord r : report.runs()) {
            double[] values = metric.apply(r.samples());
            if (values.length == 0) {
                continue;
            }
            double[][] xy = cdfPoints(values);
            XYSeries s = chart.addSeries(uniqueName(chart, r.label()), xy[0], xy[1]);
            s.setMarker(SeriesMarkers.NONE);
            series++;
        }
        if (series > 0) {
            save(chart, dir.resolve(file));
            out.add(new ChartFile(file, title + ": CDF per run"));
        }
    }

    /** x = sorted values, y = fraction at or below; at most {@value #MAX_CDF_POINTS} points. */
    static double[][] cdfPoints(double[] values) {
        double[] sorted = values.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        int points = Math.min(n, MAX_CDF_POINTS);
        double[] x = new double[points];
        double[] y = new double[points];
        for (int i = 0; i < points; i++) {
            int index = points == n ? i : (int) Math.round((double) i * (n - 1) / (points - 1));
            x[i] = sorted[index];
            y[i] = (index + 1) / (double) n;
        }
        return new double[][] {x, y};
    }

    private static void throughputVsConcurrency(List<RunRecord> sweep, Path dir, List<ChartFile> out, String suffix) {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title("Throughput vs concurrency" + suffix)
                .xAxisTitle("concurrent requests").yAxisTitle("output tokens/s").build();
        style(chart.getStyler());
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        double[] c = sweep.stream().mapToDouble(r -> ((ArrivalMode.Concurrency) r.arrival()).clients()).toArray();
        chart.addSeries("output tokens/s", c, sweep.stream().mapToDouble(r -> r.summary().outputTokensPerS()).toArray());
        XYSeries rps = chart.addSeries("requests/s (right axis)", c,
                sweep.stream().mapToDouble(r -> r.summary().requestsPerS()).toArray());
        rps.setYAxisGroup(1);
        chart.setYAxisGroupTitle(1, "requests/s");
        save(chart, dir.resolve("throughput_vs_concurrency.png"));
        out.add(new ChartFile("throughput_vs_concurrency.png", "Throughput vs concurrency" + suffix));
    }

    private static void bars(Path dir, List<ChartFile> out, String file, String title, String yTitle,
                             List<RunRecord> runs, java.util.function.ToDoubleFunction<RunRecord> value) {
        CategoryChart chart = new CategoryChartBuilder().width(WIDTH).height(HEIGHT).title(title).yAxisTitle(yTitle)
                .build();
        style(chart.getStyler());
        chart.getStyler().setLegendVisible(false);
        chart.getStyler().setLabelsVisible(true);
        chart.getStyler().setDecimalPattern("#,##0.#");
        if (runs.size() > ROTATE_LABELS_ABOVE) {
            chart.getStyler().setXAxisLabelRotation(30); // long labels side by side would overlap
        }
        chart.addSeries(yTitle, runs.stream().map(RunRecord::label).toList(),
                runs.stream().map(r -> (Number) value.applyAsDouble(r)).toList());
        save(chart, dir.resolve(file));
        out.add(new ChartFile(file, title));
    }

    private static void style(Styler s) {
        s.setAntiAlias(true);
        s.setChartBackgroundColor(java.awt.Color.WHITE);
    }

    private static String uniqueName(XYChart chart, String label) {
        String name = label;
        for (int i = 2; chart.getSeries(name) != null; i++) {
            name = label + " #" + i;
        }
        return name;
    }

    private static double nanToZero(double v) {
        return Double.isNaN(v) ? 0 : v;
    }

    private static void save(IChart chart, Path file) {
        try (java.io.OutputStream out = java.nio.file.Files.newOutputStream(file)) {
            BitmapEncoder.saveBitmap(chart, out, BitmapEncoder.BitmapFormat.PNG);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write chart " + file, e);
        }
    }
}
