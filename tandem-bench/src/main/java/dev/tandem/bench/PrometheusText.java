package dev.tandem.bench;

/**
 * Reads sample values out of a Prometheus text exposition ({@code GET /metrics}): enough to sum
 * one metric over its label sets. Lines: {@code name{labels} value [timestamp]}; {@code #} lines
 * are comments.
 */
final class PrometheusText {
    private PrometheusText() {
    }

    /** Sum of every sample named exactly {@code name} (any labels); NaN when there is none or no text. */
    static double sum(String text, String name) {
        return sum(text, name, null);
    }

    /**
     * Sum of the samples named exactly {@code name} whose label set contains {@code label} (written
     * as in the exposition, e.g. {@code path="remote"}); every sample when {@code label} is null.
     * NaN when there is none or no text.
     */
    static double sum(String text, String name, String label) {
        if (text == null) {
            return Double.NaN;
        }
        double total = 0;
        boolean found = false;
        for (String line : text.split("\n")) {
            if (line.isEmpty() || line.charAt(0) == '#' || !line.startsWith(name)) {
                continue;
            }
            int end = name.length();
            if (end < line.length() && line.charAt(end) != '{' && line.charAt(end) != ' ') {
                continue; // a longer name that starts with this one
            }
            int valueStart = end < line.length() && line.charAt(end) == '{' ? line.indexOf('}', end) + 1 : end;
            if (valueStart <= 0) {
                continue;
            }
            if (label != null && !hasLabel(line.substring(end, valueStart), label)) {
                continue;
            }
            String[] parts = line.substring(valueStart).trim().split("\\s+");
            try {
                total += Double.parseDouble(parts[0]);
                found = true;
            } catch (NumberFormatException e) {
                // not a sample line: skip
            }
        }
        return found ? total : Double.NaN;
    }

    private static boolean hasLabel(String labels, String label) {
        if (labels.length() < 2) {
            return false;
        }
        for (String pair : labels.substring(1, labels.length() - 1).split(",")) {
            if (pair.strip().equals(label)) {
                return true;
            }
        }
        return false;
    }

    /** {@code sum(after, name, label) - sum(before, name, label)}, the missing side counting 0; NaN if absent after. */
    static double delta(String before, String after, String name, String label) {
        double a = sum(after, name, label);
        if (Double.isNaN(a)) {
            return Double.NaN;
        }
        double b = sum(before, name, label);
        return a - (Double.isNaN(b) ? 0 : b);
    }

    /** {@code sum(after) - sum(before)} of the first of {@code names} present in {@code after}; NaN if none. */
    static double delta(String before, String after, String... names) {
        for (String name : names) {
            double a = sum(after, name);
            if (!Double.isNaN(a)) {
                double b = sum(before, name);
                return a - (Double.isNaN(b) ? 0 : b);
            }
        }
        return Double.NaN;
    }
}
