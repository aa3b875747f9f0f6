package dev.tandem.engine.mock;

import dev.tandem.core.ConfigException;
import dev.tandem.engine.scheduler.StepTiming;

/**
 * How long a simulated step takes: a quadratic in the step's new prompt tokens plus a quadratic
 * in the KV cache utilisation, divided by a speed-up factor.
 *
 * <pre>
 * prefill_ms(N) = prefillQuadraticMs * N^2 + prefillLinearMs * N + prefillConstantMs   (N prompt tokens in the step, N &gt; 0)
 * decode_ms(u)  = decodeQuadraticMs * u^2 + decodeLinearMs * u + decodeConstantMs      (u = active blocks / total, some decode)
 * step_ms       = (prefill_ms if N &gt; 0) + (decode_ms if any sequence decodes), divided by speedup
 * </pre>
 * A step mixing prefill chunks and decodes costs both terms. Times are clamped at 0.
 *
 * @param name               label for reports
 * @param prefillQuadraticMs coefficient of N^2, ms
 * @param prefillLinearMs    coefficient of N, ms
 * @param prefillConstantMs  constant, ms
 * @param decodeQuadraticMs  coefficient of u^2, ms
 * @param decodeLinearMs     coefficient of u, ms
 * @param decodeConstantMs   constant, ms
 * @param speedup            divides every step time; 1 reproduces the profile, 10 runs ten times faster; &gt; 0
 */
public record TimingProfile(String name, double prefillQuadraticMs, double prefillLinearMs, double prefillConstantMs,
                            double decodeQuadraticMs, double decodeLinearMs, double decodeConstantMs, double speedup)
        implements StepTiming {

    /**
     * NVIDIA Dynamo's mocker polynomial (fitted on a GPU serving a small model): prefill
     * 4.2e-7 N^2 + 1.52e-2 N + 16.5 ms, decode -25.7 u^2 + 54.0 u + 5.7 ms.
     */
    public static final TimingProfile DYNAMO = new TimingProfile("dynamo", 4.2e-7, 1.52e-2, 16.5, -25.7, 54.0, 5.7, 1.0);

    /**
     * This project's engine on synthetic TinyLlama-1.1B Q8_0 with 2 kernel threads on the 2-core
     * development machine, fitted by {@code tandem bench engine --calibrate-mock} (prefill steps of
     * 16..256 tokens, decode steps of 1..16 sequences of 128 positions; the measurement and its
     * conditions are in docs/benchmarks.md, "Batching and prefix caching"). Prefill
     * 0.1957 N^2 + 44.30 N + 2526 ms; decode 1508 u + 996.3 ms (the quadratic fit of the decode
     * points dipped below zero, so the calibrator fell back to the line). Measured while the
     * machine ran about 15 runnable processes on 2 cores: step times are several times those of
     * an idle machine; use a speed-up factor to scale them.
     */
    public static final TimingProfile TINYLLAMA_Q8_CPU2T = new TimingProfile("tinyllama-q8-cpu2t",
            0.1957, 44.30, 2526, 0.0, 1508, 996.3, 1.0);

    /** Every profile {@link #named} knows. */
    public static final java.util.List<TimingProfile> KNOWN = java.util.List.of(DYNAMO, TINYLLAMA_Q8_CPU2T);

    public TimingProfile {
        if (!(speedup > 0) || Double.isInfinite(speedup)) {
            throw new ConfigException("mock speed-up must be a positive number, got " + speedup);
        }
    }

    /** Prefill time of a step with {@code promptTokens} new prompt tokens, before speed-up, in ms. */
    public double prefillMs(int promptTokens) {
        double n = promptTokens;
        return Math.max(0, prefillQuadraticMs * n * n + prefillLinearMs * n + prefillConstantMs);
    }

    /** Decode time at KV utilisation {@code u} in [0, 1], before speed-up, in ms. */
    public double decodeMs(double u) {
        return Math.max(0, decodeQuadraticMs * u * u + decodeLinearMs * u + decodeConstantMs);
    }

    @Override
    public long stepNanos(int prefillTokens, int decodeSequences, int activeBlocks, int totalBlocks) {
        double ms = 0;
        if (prefillTokens > 0) {
            ms += prefillMs(prefillTokens);
        }
        if (decodeSequences > 0) {
            ms += decodeMs(totalBlocks == 0 ? 0 : (double) activeBlocks / totalBlocks);
        }
        return Math.max(1, Math.round(ms / speedup * 1e6));
    }

    public TimingProfile withSpeedup(double s) {
        return new TimingProfile(name, prefillQuadraticMs, prefillLinearMs, prefillConstantMs, decodeQuadraticMs,
                decodeLinearMs, decodeConstantMs, s);
    }

    /** A profile by name, case-insensitive: one of {@link #KNOWN} ({@code dynamo}, {@code tinyllama-q8-cpu2t}). */
    public static TimingProfile named(String profileName) {
        String names = String.join(", ", KNOWN.stream().map(TimingProfile::name).toList());
        if (profileName == null) {
            throw new ConfigException("mock timing profile is missing (expected one of: " + names + ")");
        }
        String key = profileName.trim().toLowerCase(java.util.Locale.ROOT);
        for (TimingProfile p : KNOWN) {
            if (p.name().equals(key)) {
                return p;
            }
        }
        throw new ConfigException("unknown mock timing profile '" + profileName + "' (expected one of: " + names + ")");
    }
}
