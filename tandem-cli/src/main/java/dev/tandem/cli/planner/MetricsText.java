package dev.tandem.cli.planner;

import dev.tandem.core.ProtocolException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The samples of one Prometheus text-format scrape ({@code /metrics}, format 0.0.4): comment
 * lines are skipped, each other line is {@code name{label="value",...} number}. Only what the
 * planner reads is supported: no timestamps after the value, label values without escaped quotes
 * are enough for Tandem's own metrics (escapes are decoded anyway).
 */
public final class MetricsText {
    /** One sample: metric name, labels in order, value. */
    public record Sample(String name, Map<String, String> labels, double value) {
        public String label(String key) {
            return labels.getOrDefault(key, "");
        }
    }

    private final List<Sample> samples;

    private MetricsText(List<Sample> samples) {
        this.samples = samples;
    }

    /**
     * Parses a scrape.
     *
     * @throws ProtocolException on a line that is not a sample, naming its number
     */
    public static MetricsText parse(String text) {
        List<Sample> out = new ArrayList<>();
        int lineNo = 0;
        for (String line : text.split("\n")) {
            lineNo++;
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            out.add(sample(l, lineNo));
        }
        return new MetricsText(List.copyOf(out));
    }

    private static Sample sample(String l, int lineNo) {
        int brace = l.indexOf('{');
        int space = l.indexOf(' ');
        if (space < 0) {
            throw new ProtocolException("metrics line " + lineNo + " has no value: " + l);
        }
        Map<String, String> labels = new LinkedHashMap<>();
        String name;
        int valueStart;
        if (brace >= 0 && brace < space) {
            name = l.substring(0, brace);
            int i = brace + 1;
            while (l.charAt(i) != '}') {
                int eq = l.indexOf('=', i);
                if (eq < 0 || l.charAt(eq + 1) != '"') {
                    throw new ProtocolException("metrics line " + lineNo + " has a malformed label: " + l);
                }
                StringBuilder value = new StringBuilder();
                int j = eq + 2;
                for (; l.charAt(j) != '"'; j++) {
                    char c = l.charAt(j);
                    if (c == '\\') {
                        char n = l.charAt(++j);
                        value.append(n == 'n' ? '\n' : n);
                    } else {
                        value.append(c);
                    }
                }
                labels.put(l.substring(i, eq).strip(), value.toString());
                i = j + 1;
                if (l.charAt(i) == ',') {
                    i++;
                }
            }
            valueStart = i + 1;
        } else {
            name = l.substring(0, space);
            valueStart = space;
        }
        String[] rest = l.substring(valueStart).strip().split("\\s+");
        try {
            return new Sample(name, Map.copyOf(labels), parseValue(rest[0]));
        } catch (NumberFormatException e) {
            throw new ProtocolException("metrics line " + lineNo + " has no number: " + l);
        }
    }

    private static double parseValue(String v) {
        return switch (v) {
            case "+Inf" -> Double.POSITIVE_INFINITY;
            case "-Inf" -> Double.NEGATIVE_INFINITY;
            case "NaN" -> Double.NaN;
            default -> Double.parseDouble(v);
        };
    }

    /** Every sample of metric {@code name}. */
    public List<Sample> all(String name) {
        return samples.stream().filter(s -> s.name().equals(name)).toList();
    }

    /** The sum of every sample of {@code name} (0 when there is none). */
    public double sum(String name) {
        return all(name).stream().mapToDouble(Sample::value).sum();
    }

    /**
     * A classic histogram's cumulative bucket counts by upper bound (summed over its other
     * labels), from {@code name_bucket{le=...}}; +Inf included.
     */
    public Histogram histogram(String name) {
        Map<Double, Double> buckets = new TreeMap<>();
        for (Sample s : all(name + "_bucket")) {
            buckets.merge(parseValue(s.label("le")), s.value(), Double::sum);
        }
        return new Histogram(buckets);
    }
}
