package dev.tandem.bench;

import java.util.Arrays;

/**
 * The machine's streaming read bandwidth, measured in process for {@code tandem bench engine}: the
 * reference against which memory-bound decode is reported (weight bytes read per token times
 * tokens per second, divided by this).
 *
 * <pre>
 * Design
 *   One long[] of bytes/8 elements (far larger than the last-level cache), written once so that
 *   every page is mapped. A pass: threads threads each sum their contiguous slice `sweeps` times
 *   with four independent accumulators (the loop is bound by memory, not by the adds); the pass
 *   time is from the first thread's start to the last thread's end. Result: the median pass,
 *   bytes read / time.
 * Invariants
 *   The sums are consumed (written to a field), so the reads cannot be removed.
 * Concurrency
 *   One measurement at a time per instance; the reader threads are started and joined per pass.
 * </pre>
 */
public final class ReadBandwidth {
    /** Result of a measurement: median, min and max over the passes, bytes per second. */
    public record Result(double median, double min, double max, long bufferBytes, int threads) {
    }

    private final long[] data;
    private volatile long sink;

    public ReadBandwidth(long bytes) {
        if (bytes < 8 * 1024 || bytes / 8 > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("buffer of " + bytes + " bytes is out of range");
        }
        data = new long[(int) (bytes / 8)];
        for (int i = 0; i < data.length; i++) {
            data[i] = i;
        }
    }

    /** Median of {@code passes} passes of {@code sweeps} reads of the whole buffer on {@code threads} threads. */
    public Result measure(int threads, int passes, int sweeps) throws InterruptedException {
        double[] rates = new double[passes];
        for (int p = 0; p < passes; p++) {
            rates[p] = pass(threads, sweeps);
        }
        double[] sorted = rates.clone();
        Arrays.sort(sorted);
        int n = sorted.length;
        double median = n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
        return new Result(median, sorted[0], sorted[n - 1], data.length * 8L, threads);
    }

    private double pass(int threads, int sweeps) throws InterruptedException {
        Thread[] readers = new Thread[threads];
        long[] sums = new long[threads];
        int slice = (data.length / threads) & ~3;
        long start = System.nanoTime();
        for (int t = 0; t < threads; t++) {
            int index = t;
            int from = t * slice;
            int to = t == threads - 1 ? data.length & ~3 : from + slice;
            readers[t] = Thread.ofPlatform().name("tandem-bandwidth-" + t).start(() -> {
                long s = 0;
                for (int k = 0; k < sweeps; k++) {
                    s += sum(data, from, to);
                }
                sums[index] = s;
            });
        }
        for (Thread r : readers) {
            r.join();
        }
        long ns = System.nanoTime() - start;
        sink = Arrays.stream(sums).sum();
        long bytes = (long) (data.length & ~3) * 8 * sweeps;
        return bytes / (ns / 1e9);
    }

    private static long sum(long[] a, int from, int to) {
        long s0 = 0;
        long s1 = 0;
        long s2 = 0;
        long s3 = 0;
        for (int i = from; i < to; i += 4) {
            s0 += a[i];
            s1 += a[i + 1];
            s2 += a[i + 2];
            s3 += a[i + 3];
        }
        return s0 + s1 + s2 + s3;
    }
}
