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
 *   a quarter of that for the token-count comparisons).
 *   1. Decode kernel (55% of the type's time): float dot against integer dot (types with both), one
 *      token; the integer dot stays unless the float one is more than 10% faster.
 *   2. Thresholds (the rest): at T = 2, 4, 8, 16, 32 tokens, the chosen dot path, the row tiles
 *      and the blocked matrix-matrix product; gemmMinTokens is the smallest T from which blocked
 *      beats both others at every measured T (64 when it never does), rowsMinTokens the smallest
 *      T below that from which row tiles beat the dots at every measured T up to it.
 *   Each phase first runs each kernel WARMUP_CALLS times on 33 blocks of one row, so that the
 *   JIT's last tier has compiled them (interpreted or C1-compiled vector code is one to two
 *   orders of magnitude slower, and a kernel still there would lose unfairly), and keeps the
 *   default of what it could not measure in time (said in the log line and Choice).
 *   Candidates run in rounds, one of each per round, so that load on a shared machine falls on all
 *   of them alike; each keeps its fastest round. A phase ends when no candidate has improved by
 *   more than 5% for STABLE_ROUNDS rounds (a kernel the JIT compiled late would show as a late
 *   improvement), or at the end of its time: then what it measures is not trusted and the
 *   defaults stay. On an idle machine a phase takes some hundred milliseconds, most of it the
 *   JIT's warm-up; the budget (3 s by default) bounds it on a loaded one.
 *   Overrides: -Dtandem.kernels.decode=float|integer, -Dtandem.kernels.gemm-min-tokens=N,
 *   -Dtandem.kernels.rows-min-tokens=N, and -Dtandem.kernels.tune-ms=0 (no measurement: the defaults of KernelPlan.defaultFor).
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
    /** Forces the row-tile threshold (2..64 tokens; at or above the blocked threshold: no row tiles). */
    public static final String ROWS_PROPERTY = "tandem.kernels.rows-min-tokens";

    static final long SLICE_BYTES = 1L << 20;
    static final long MIN_MODEL_BYTES = 16L << 20;
    static final int[] TOKEN_COUNTS = {2, 4, 8, 16, 32};
    private static final int STABLE_ROUNDS = 8;
    private static final int MAX_ROUNDS = 200;
    private static final int WARMUP_CALLS = 1_000;
    private static final int SMALL_COLS = 1056; // 33 blocks of 32: two 16-block vector steps and a tail
    private static final int DECODE_SHARE_PERCENT = 55;
    private static final double IMPLAUSIBLE_RATIO = 2.0;
    /** The float dot must be this much faster (time ratio) to replace the integer one. */
    static final double DECODE_MARGIN = 0.9;
    private static final int WARMUP_SHARE_PERCENT = 60;
    private static final long DEFAULT_BUDGET_MS = 3000;

    /** What was chosen for one weight type, with the fastest time of each candidate (nanoseconds). */
    public record Choice(GgmlType type, KernelPlan plan, boolean measured, boolean gemmMeasured,
                         Map<String, Long> bestNanos) {
        /** One line: {@code Q8_0: integer dot (float 1.21x slower), blocked from 8 tokens}. */
        public String describe() {
            StringBuilder s = new StringBuilder(type + ": " + plan.decode().name().toLowerCase(Locale.ROOT) + " dot");
            Long f = bestNanos.get("dot float");
            Long i = bestNanos.get("dot integer");
            if (measured && f != null && i != null) {
                double ratio = plan.decode() == DecodeKernel.INTEGER ? (double) f / i : (double) i / f;
                String other = plan.decode() == DecodeKernel.INTEGER ? "float" : "integer";
                s.append(ratio >= 1 ? String.format(Locale.ROOT, " (%s %.2fx slower)", other, ratio)
                        : String.format(Locale.ROOT, " (%s %.2fx faster, within the margin)", other, 1 / ratio));
            }
            if (!measured) {
                s.append(" (not measured)");
            }
            if (plan.rowsMinTokens() < plan.gemmMinTokens()) {
                s.append(", row tiles from ").append(plan.rowsMinTokens());
            }
            s.append(", blocked from ").append(plan.gemmMinTokens()).append(" tokens");
            if (!gemmMeasured) {
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
    private final Integer forcedRows;

    /** A tuner over {@code matmul}'s pool, with the budget and overrides of the system properties. */
    public KernelTuner(MatMul matmul) {
        this(matmul, System::nanoTime, Long.getLong(BUDGET_PROPERTY, DEFAULT_BUDGET_MS) * 1_000_000L,
                System.getProperty(DECODE_PROPERTY), parseTokens(GEMM_PROPERTY, System.getProperty(GEMM_PROPERTY)),
                parseTokens(ROWS_PROPERTY, System.getProperty(ROWS_PROPERTY)));
    }

    KernelTuner(MatMul matmul, LongSupplier clock, long budgetNanos, String forcedDecode, Integer forcedGemm) {
        this(matmul, clock, budgetNanos, forcedDecode, forcedGemm, null);
    }

    KernelTuner(MatMul matmul, LongSupplier clock, long budgetNanos, String forcedDecode, Integer forcedGemm,
                Integer forcedRows) {
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
        this.forcedRows = forcedRows;
    }

    private static Integer parseTokens(String property, String text) {
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
            throw new IllegalArgumentException(property + " must be auto or 2.." + KernelPlan.MAX_GEMM_MIN_TOKENS
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
        int gemm = forcedGemm != null ? forcedGemm : def.gemmMinTokens();
        int rows = Math.min(forcedRows != null ? forcedRows : def.rowsMinTokens(), gemm);
        return new Choice(group.getFirst().type(), new KernelPlan(decode, rows, gemm), false, false, Map.of());
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
        int maxTokens = TOKEN_COUNTS[TOKEN_COUNTS.length - 1];
        SplittableRandom rnd = new SplittableRandom(17);
        float[] x = new float[maxTokens * largest.cols()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        WeightMatrix decodeSlice = slice(largest, SLICE_BYTES);
        float[] out = new float[maxTokens * decodeSlice.rows()];
        long start = clock.getAsLong();
        Map<String, Long> best = new LinkedHashMap<>();

        // Phase 1, the decode kernel (DECODE_SHARE_PERCENT of the time).
        boolean tryInteger = largest.hasQ8Dot() && forcedDecode == null;
        List<Candidate> dots = new ArrayList<>();
        dots.add(new Candidate("dot float", decodeSlice, 1, MatMul.Path.DOTS, false));
        if (tryInteger) {
            dots.add(new Candidate("dot integer", decodeSlice, 1, MatMul.Path.DOTS, true));
        }
        WeightMatrix small = small(largest, 1);
        // The two formulations do the same work within some tens of percent once compiled: a
        // larger gap is a kernel the JIT has not (or not yet well) compiled, not a measurement.
        boolean decodeMeasured = run(dots, small, x, out, start + shareNanos * DECODE_SHARE_PERCENT / 100,
                () -> dots.size() < 2 || Math.max(dots.get(0).best, dots.get(1).best)
                        <= IMPLAUSIBLE_RATIO * Math.min(dots.get(0).best, dots.get(1).best));
        dots.forEach(c -> best.put(c.name, c.best));
        DecodeKernel decode = forcedDecode(largest, decodeMeasured && tryInteger
                && !floatClearlyFaster(dots.get(0).best, dots.get(1).best)
                ? DecodeKernel.INTEGER
                : decodeMeasured || !tryInteger ? DecodeKernel.FLOAT : KernelPlan.defaultFor(largest).decode());

        // Phase 2, the thresholds (the rest), on a quarter of the slice.
        int gemm = forcedGemm != null ? forcedGemm : MatMul.GEMM_MIN_TOKENS;
        int rows = Math.min(MatMul.ROWS_MIN_TOKENS, gemm);
        boolean gemmMeasured = false;
        WeightMatrix gemmSlice = slice(largest, SLICE_BYTES / 4);
        boolean integer = decode == DecodeKernel.INTEGER;
        List<Candidate> counts = new ArrayList<>();
        for (int t : TOKEN_COUNTS) {
            if (forcedGemm == null || t < forcedGemm) {
                counts.add(new Candidate("dot " + (integer ? "integer" : "float") + " x" + t, gemmSlice, t,
                        MatMul.Path.DOTS, integer));
                counts.add(new Candidate("rows x" + t, gemmSlice, t, MatMul.Path.ROWS, false));
            }
            if (forcedGemm == null) {
                counts.add(new Candidate("blocked x" + t, gemmSlice, t, MatMul.Path.BLOCKED, false));
            }
        }
        if (!counts.isEmpty()) {
            gemmMeasured = run(counts, small(largest, 6), x, out, start + shareNanos, () -> true);
            if (gemmMeasured) {
                counts.forEach(c -> best.put(c.name, c.best));
                if (forcedGemm == null) {
                    gemm = gemmThreshold(best, decode);
                }
                rows = rowsThreshold(best, decode, gemm);
            }
        }
        if (forcedRows != null) {
            rows = Math.min(forcedRows, gemm);
        }
        return new Choice(largest.type(), new KernelPlan(decode, rows, gemm), decodeMeasured, gemmMeasured, best);
    }

    /**
     * True when the float dot beat the integer one by more than {@link #DECODE_MARGIN}: within it,
     * the integer dot (the default) stays. On the tuner's in-cache slice the two can come out
     * within a percent of each other while on the whole model, read from memory, the integer
     * dot is clearly faster (Q4_0 on Zen 4: 12 against 7.4 tokens/s, docs/benchmarks.md).
     */
    static boolean floatClearlyFaster(long floatNanos, long integerNanos) {
        return floatNanos < integerNanos * DECODE_MARGIN;
    }

    /**
     * Warms {@code candidates}' kernels up on {@code small} (up to 60% of the time left), then times
     * them in rounds until they are stable and {@code plausible} or {@code end}; true when the
     * timings can be trusted.
     */
    private boolean run(List<Candidate> candidates, WeightMatrix small, float[] x, float[] out, long end,
                        java.util.function.BooleanSupplier plausible) {
        // Enough calls of every kernel for the JIT's last tier (C2 compiles a method after about
        // 15,000 invocations and loop iterations, at least 600 invocations), on small products; a
        // phase whose warm-up does not finish in its share of the time is not trusted.
        long warmEnd = clock.getAsLong() + (end - clock.getAsLong()) * WARMUP_SHARE_PERCENT / 100;
        int calls = 0;
        for (; calls < WARMUP_CALLS * candidates.size() && clock.getAsLong() < warmEnd; calls++) {
            Candidate c = candidates.get(calls % candidates.size());
            matmul.multiply(small, x, 0, c.path == MatMul.Path.DOTS ? 1 : c.tokens, out, 0, c.path, c.integer);
        }
        if (calls < WARMUP_CALLS * candidates.size()) {
            return false;
        }
        // Rounds until no candidate has improved by more than 5% for STABLE_ROUNDS rounds (a kernel
        // the JIT compiles late shows as a late improvement) or the time is up.
        int rounds = 0;
        int lastImprovement = 0;
        for (; rounds < MAX_ROUNDS && (rounds - lastImprovement < STABLE_ROUNDS || !plausible.getAsBoolean())
                && clock.getAsLong() < end; rounds++) {
            for (Candidate c : candidates) {
                long t0 = clock.getAsLong();
                matmul.multiply(c.matrix, x, 0, c.tokens, out, 0, c.path, c.integer);
                long took = clock.getAsLong() - t0;
                int round = rounds;
                LOG.log(System.Logger.Level.TRACE, () -> "round " + round + " " + c.name + " " + took / 1000 + " us");
                if (took < c.best * 0.95) {
                    lastImprovement = rounds;
                }
                c.best = Math.min(c.best, took);
            }
        }
        return rounds - lastImprovement >= STABLE_ROUNDS && plausible.getAsBoolean();
    }

    /**
     * The first {@code rows} rows of {@code m} cut to {@link #SMALL_COLS} columns (enough blocks
     * that every loop of every kernel runs, vector steps and tails: a path the JIT never saw is
     * compiled as a trap, and the first real product then falls back to the interpreter): warm-up
     * products cheap enough for the interpreter, where vector code runs orders of magnitude slower
     * than once C2 has compiled it.
     */
    private static WeightMatrix small(WeightMatrix m, int rows) {
        // super-block types loop over whole 256-element blocks: two of them run every loop
        int cols = Math.min(m.cols(), m.blockSize() >= 256 ? 2 * m.blockSize() : SMALL_COLS);
        int r = Math.min(rows, m.rows());
        return WeightMatrix.of(m.type(), m.data.asSlice(0, r * m.type().bytesFor(cols)), r, cols);
    }

    /**
     * The smallest measured token count from which blocked beats the dots (and the row tiles,
     * where measured) at every larger one.
     */
    static int gemmThreshold(Map<String, Long> best, DecodeKernel decode) {
        String dot = decode == DecodeKernel.INTEGER ? "dot integer x" : "dot float x";
        int threshold = KernelPlan.MAX_GEMM_MIN_TOKENS;
        for (int i = TOKEN_COUNTS.length - 1; i >= 0; i--) {
            int t = TOKEN_COUNTS[i];
            long blocked = best.get("blocked x" + t);
            if (blocked < best.get(dot + t) && blocked < best.getOrDefault("rows x" + t, Long.MAX_VALUE)) {
                threshold = t;
            } else {
                break;
            }
        }
        return threshold;
    }

    /**
     * The smallest measured token count below {@code gemm} from which the row tiles beat the
     * dots at every measured count up to it; {@code gemm} when they never do.
     */
    static int rowsThreshold(Map<String, Long> best, DecodeKernel decode, int gemm) {
        String dot = decode == DecodeKernel.INTEGER ? "dot integer x" : "dot float x";
        int threshold = gemm;
        for (int i = TOKEN_COUNTS.length - 1; i >= 0; i--) {
            int t = TOKEN_COUNTS[i];
            if (t >= gemm) {
                continue;
            }
            Long rows = best.get("rows x" + t);
            if (rows != null && rows < best.get(dot + t)) {
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
        final MatMul.Path path;
        final boolean integer;
        long best = Long.MAX_VALUE;

        Candidate(String name, WeightMatrix matrix, int tokens, MatMul.Path path, boolean integer) {
            this.name = name;
            this.matrix = matrix;
            this.tokens = tokens;
            this.path = path;
            this.integer = integer;
        }
    }
}
