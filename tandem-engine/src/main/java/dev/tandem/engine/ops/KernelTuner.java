package dev.tandem.engine.ops;

import dev.tandem.engine.gguf.GgmlType;
import dev.tandem.engine.ops.KernelPlan.DecodeKernel;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.LongSupplier;

/**
 * Chooses each weight type's {@link KernelPlan} by timing the candidates on the model's own
 * matrices, at load, for a bounded time.
 *
 * <pre>
 * Design
 *   Per weight type: the largest matrix of that type, cut to its first rows so that the slice is
 *   about SLICE_BYTES (in a server core's L2: the kernels' own speed is measured, not memory's;
 *   a quarter of that for the token-count comparisons). First every candidate runs on 16 rows
 *   until the JIT has compiled the kernels (up to 40% of the type's time).
 *   1. Decode kernel: float dot against integer dot (types with both), one token.
 *   2. Blocked threshold: at T = 2, 4, 8, 16, 32 tokens, the chosen dot path against the blocked
 *      matrix-matrix product; gemmMinTokens is the smallest T from which blocked wins at every
 *      measured T (64 when it never does).
 *   Candidates run in rounds, one of each per round, so that load on a shared machine falls on all
 *   of them alike; each keeps its fastest round after the warm-up rounds (the JIT compiles the
 *   kernels during these). A type stops after ROUNDS rounds or its share of the time budget.
 *   Overrides: -Dtandem.kernels.decode=float|integer, -Dtandem.kernels.gemm-min-tokens=N, and
 *   -Dtandem.kernels.tune-ms=0 (no measurement: the defaults of KernelPlan.defaultFor).
 *   Models whose matrices are smaller than MIN_MODEL_BYTES are not measured (their steps take
 *   microseconds; the defaults serve).
 * Invariants
 *   A plan is set on every matrix of the type before the model serves; the timed products write
 *   into scratch arrays only.
 * Concurrency
 *   Runs on the loading thread with the model's MatMul before any step.
 * </pre>
 */
public final class KernelTuner {
    private static final System.Logger LOG = System.getLogger(KernelTuner.class.getName());

    /** Total measuring time across all weight types, milliseconds. */
    public static final String BUDGET_PROPERTY = "tandem.kernels.tune-ms";
    /** Forces the decode kernel: float or integer (where the type has it). */
    public static final String DECODE_PROPERTY = "tandem.kernels.decode";
    /** Forces the blocked threshold (2..64 tokens). */
    public static final String GEMM_PROPERTY = "tandem.kernels.gemm-min-tokens";

    static final long SLICE_BYTES = 1L << 20;
    static final long MIN_MODEL_BYTES = 16L << 20;
    static final int[] TOKEN_COUNTS = {2, 4, 8, 16, 32};
    private static final int WARMUP_ROUNDS = 2;
    private static final int WARMUP_CALLS = 400;
    private static final int WARMUP_SHARE_PERCENT = 40;
    private static final int ROUNDS = 24;
    private static final long DEFAULT_BUDGET_MS = 600;

    /** What was chosen for one weight type, with the fastest time of each candidate (nanoseconds). */
    public record Choice(GgmlType type, KernelPlan plan, boolean measured, Map<String, Long> bestNanos) {
        /** One line: {@code Q8_0: integer dot (float 1.21x slower), blocked from 8 tokens}. */
        public String describe() {
            StringBuilder s = new StringBuilder(type + ": " + plan.decode().name().toLowerCase(Locale.ROOT) + " dot");
            Long f = bestNanos.get("dot float");
            Long i = bestNanos.get("dot integer");
            if (f != null && i != null) {
                double ratio = plan.decode() == DecodeKernel.INTEGER ? (double) f / i : (double) i / f;
                String other = plan.decode() == DecodeKernel.INTEGER ? "float" : "integer";
                s.append(String.format(Locale.ROOT, " (%s %.2fx slower)", other, ratio));
            }
            s.append(", blocked from ").append(plan.gemmMinTokens()).append(" tokens");
            if (!measured) {
                s.append(" (not measured)");
            }
            return s.toString();
        }
    }

    private final MatMul matmul;
    private final LongSupplier clock;
    private final long budgetNanos;
    private final String forcedDecode;
    private final Integer forcedGemm;

    /** A tuner over {@code matmul}'s pool, with the budget and overrides of the system properties. */
    public KernelTuner(MatMul matmul) {
        this(matmul, System::nanoTime, Long.getLong(BUDGET_PROPERTY, DEFAULT_BUDGET_MS) * 1_000_000L,
                System.getProperty(DECODE_PROPERTY), parseGemm(System.getProperty(GEMM_PROPERTY)));
    }

    KernelTuner(MatMul matmul, LongSupplier clock, long budgetNanos, String forcedDecode, Integer forcedGemm) {
        if (forcedDecode != null && !forcedDecode.isBlank() && !forcedDecode.equals("auto")
                && !forcedDecode.equals("float") && !forcedDecode.equals("integer")) {
            throw new IllegalArgumentException(DECODE_PROPERTY + " must be auto, float or integer, got '" + forcedDecode
                    + "'");
        }
        this.matmul = matmul;
        this.clock = clock;
        this.budgetNanos = budgetNanos;
        this.forcedDecode = forcedDecode == null || forcedDecode.isBlank() || forcedDecode.equals("auto")
                ? null : forcedDecode;
        this.forcedGemm = forcedGemm;
    }

    private static Integer parseGemm(String text) {
        if (text == null || text.isBlank() || text.trim().equals("auto")) {
            return null;
        }
        try {
            int n = Integer.parseInt(text.trim());
            if (n < 2 || n > KernelPlan.MAX_GEMM_MIN_TOKENS) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(GEMM_PROPERTY + " must be auto or 2.." + KernelPlan.MAX_GEMM_MIN_TOKENS
                    + ", got '" + text + "'");
        }
    }

    /** Chooses and sets the plan of every matrix; returns one choice per weight type, largest type first. */
    public List<Choice> tune(Collection<WeightMatrix> matrices) {
        Map<GgmlType, List<WeightMatrix>> byType = new LinkedHashMap<>();
        long totalBytes = 0;
        for (WeightMatrix m : matrices) {
            byType.computeIfAbsent(m.type(), t -> new ArrayList<>()).add(m);
            totalBytes += m.byteSize();
        }
        List<Map.Entry<GgmlType, List<WeightMatrix>>> types = new ArrayList<>(byType.entrySet());
        types.sort((a, b) -> Long.compare(bytes(b.getValue()), bytes(a.getValue())));
        boolean measure = budgetNanos > 0 && totalBytes >= MIN_MODEL_BYTES;
        List<Choice> choices = new ArrayList<>();
        long start = clock.getAsLong();
        long deadline = start + budgetNanos;
        for (int i = 0; i < types.size(); i++) {
            List<WeightMatrix> group = types.get(i).getValue();
            long share = (deadline - clock.getAsLong()) / (types.size() - i);
            Choice c = measure ? measured(group, share) : unmeasured(group);
            for (WeightMatrix m : group) {
                m.usePlan(c.plan());
            }
            choices.add(c);
        }
        long tookMs = (clock.getAsLong() - start) / 1_000_000;
        LOG.log(System.Logger.Level.INFO, () -> "kernels " + Simd.describe() + ": "
                + String.join("; ", choices.stream().map(Choice::describe).toList())
                + (measure ? " (measured in " + tookMs + " ms)" : ""));
        return choices;
    }

    private static long bytes(List<WeightMatrix> group) {
        return group.stream().mapToLong(WeightMatrix::byteSize).sum();
    }

    private Choice unmeasured(List<WeightMatrix> group) {
        KernelPlan def = KernelPlan.defaultFor(group.getFirst());
        DecodeKernel decode = forcedDecode(group.getFirst(), def.decode());
        return new Choice(group.getFirst().type(), new KernelPlan(decode,
                forcedGemm != null ? forcedGemm : def.gemmMinTokens()), false, Map.of());
    }

    private DecodeKernel forcedDecode(WeightMatrix m, DecodeKernel otherwise) {
        if (forcedDecode == null) {
            return otherwise;
        }
        return forcedDecode.equals("integer") && m.hasQ8Dot() ? DecodeKernel.INTEGER : DecodeKernel.FLOAT;
    }

    private Choice measured(List<WeightMatrix> group, long shareNanos) {
        WeightMatrix largest = group.getFirst();
        for (WeightMatrix m : group) {
            if (m.byteSize() > largest.byteSize()) {
                largest = m;
            }
        }
        WeightMatrix decodeSlice = slice(largest, SLICE_BYTES);
        WeightMatrix gemmSlice = slice(largest, SLICE_BYTES / 4);
        int maxTokens = TOKEN_COUNTS[TOKEN_COUNTS.length - 1];
        SplittableRandom rnd = new SplittableRandom(17);
        float[] x = new float[maxTokens * largest.cols()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        float[] out = new float[maxTokens * decodeSlice.rows()];

        List<Candidate> candidates = new ArrayList<>();
        boolean tryInteger = largest.hasQ8Dot() && forcedDecode == null;
        Candidate floatDot = new Candidate("dot float", decodeSlice, 1, false, false);
        Candidate intDot = tryInteger ? new Candidate("dot integer", decodeSlice, 1, false, true) : null;
        candidates.add(floatDot);
        if (intDot != null) {
            candidates.add(intDot);
        }
        if (forcedGemm == null) {
            for (int t : TOKEN_COUNTS) {
                candidates.add(new Candidate("dot float x" + t, gemmSlice, t, false, false));
                if (tryInteger) {
                    candidates.add(new Candidate("dot integer x" + t, gemmSlice, t, false, true));
                }
                candidates.add(new Candidate("blocked x" + t, gemmSlice, t, true, false));
            }
        }
        long end = clock.getAsLong() + shareNanos;
        // Warm-up on a few rows: the JIT compiles the kernels (interpreted vector code is very slow).
        WeightMatrix few = slice(largest, 16 * largest.rowBytes());
        long warmEnd = clock.getAsLong() + shareNanos * WARMUP_SHARE_PERCENT / 100;
        for (int i = 0; i < WARMUP_CALLS && clock.getAsLong() < warmEnd; i++) {
            for (Candidate c : candidates) {
                matmul.multiply(few, x, 0, c.tokens, out, 0, c.blocked, c.integer);
            }
        }
        for (int round = 0; round < ROUNDS && clock.getAsLong() < end; round++) {
            for (Candidate c : candidates) {
                long t0 = clock.getAsLong();
                matmul.multiply(c.matrix, x, 0, c.tokens, out, 0, c.blocked, c.integer);
                long took = clock.getAsLong() - t0;
                if (round >= WARMUP_ROUNDS) {
                    c.best = Math.min(c.best, took);
                }
            }
        }
        Map<String, Long> best = new LinkedHashMap<>();
        for (Candidate c : candidates) {
            best.put(c.name, c.best);
        }
        if (floatDot.best == Long.MAX_VALUE) { // out of time before the warm-up ended (emulated or very slow kernels)
            return unmeasured(group);
        }
        DecodeKernel decode = forcedDecode(largest, intDot != null && intDot.best < floatDot.best
                ? DecodeKernel.INTEGER : DecodeKernel.FLOAT);
        int gemm = forcedGemm != null ? forcedGemm : gemmThreshold(best, decode);
        return new Choice(largest.type(), new KernelPlan(decode, gemm), true, best);
    }

    /** The smallest measured token count from which blocked beats the decode kernel at every larger one. */
    static int gemmThreshold(Map<String, Long> best, DecodeKernel decode) {
        String dot = decode == DecodeKernel.INTEGER ? "dot integer x" : "dot float x";
        int threshold = KernelPlan.MAX_GEMM_MIN_TOKENS;
        for (int i = TOKEN_COUNTS.length - 1; i >= 0; i--) {
            int t = TOKEN_COUNTS[i];
            if (best.get("blocked x" + t) < best.get(dot + t)) {
                threshold = t;
            } else {
                break;
            }
        }
        return threshold;
    }

    /** The first rows of {@code m}, about {@code bytes}, as a matrix of its own. */
    private static WeightMatrix slice(WeightMatrix m, long bytes) {
        int rows = (int) Math.clamp(bytes / m.rowBytes(), 1, m.rows());
        MemorySegment data = m.data.asSlice(0, rows * m.rowBytes());
        return WeightMatrix.of(m.type(), data, rows, m.cols());
    }

    private static final class Candidate {
        final String name;
        final WeightMatrix matrix;
        final int tokens;
        final boolean blocked;
        final boolean integer;
        long best = Long.MAX_VALUE;

        Candidate(String name, WeightMatrix matrix, int tokens, boolean blocked, boolean integer) {
            this.name = name;
            this.matrix = matrix;
            this.tokens = tokens;
            this.blocked = blocked;
            this.integer = integer;
        }
    }
}
