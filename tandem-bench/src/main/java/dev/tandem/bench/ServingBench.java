package dev.tandem.bench;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.engine.LlmEngine;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The serving engine under load, for {@code tandem bench engine --concurrency}: C requests at
 * once through {@link LlmEngine} (continuous batching, chunked prefill, paged KV cache), and
 * time-to-first-token with and without a cached prompt prefix.
 *
 * <p>Definitions, per repetition (every repetition uses fresh prompts, so nothing is cached
 * unless a measurement says so):
 * <ul>
 *   <li>C requests of {@code promptTokens} (BOS + seeded pseudo-random ids) and {@code genTokens}
 *       greedy tokens (end-of-generation ignored) are submitted together at t0;</li>
 *   <li>{@code ttft_ms}: mean over the C requests of (first token - t0);</li>
 *   <li>{@code prefill_tokens_per_second}: C x promptTokens / (last first token - t0): prompt
 *       throughput while the batch fills;</li>
 *   <li>{@code decode_tokens_per_second}: tokens produced after the last first token, over the
 *       time from then to the last token: aggregate decode with all C sequences running
 *       (llama.cpp's batched figure counts the same way);</li>
 *   <li>prefix: a request whose first {@code sharedPrefixTokens} tokens were computed by an
 *       earlier request (whole blocks are reused), against one with a fresh prompt of the same
 *       length; both alone in the engine, both TTFT = first token - submit.</li>
 * </ul>
 * Medians over the repetitions are reported, with min and max.
 */
public final class ServingBench {
    /** Longest wait for one request, in seconds: a stuck engine fails the bench instead of hanging it. */
    private static final long REQUEST_TIMEOUT_S = 1800;

    private final LlmEngine engine;
    private final int vocabSize;
    private final int bos;
    private final PrintStream log;
    /** Every request's output constraint ({@code --json-schema}), or null. */
    private OutputConstraint constraint;

    public record Stat(double median, double min, double max) {
        static Stat of(double[] v) {
            double[] s = v.clone();
            Arrays.sort(s);
            int n = s.length;
            return new Stat(n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[0], s[n - 1]);
        }
    }

    /** One concurrency level. */
    public record LevelResult(int concurrency, Stat decodeTokensPerSecond, Stat prefillTokensPerSecond, Stat ttftMs) {
    }

    /** TTFT of a request with and without a cached prefix. */
    public record PrefixResult(int promptTokens, int sharedPrefixTokens, int cachedTokens, Stat uncachedTtftMs,
                               Stat cachedTtftMs) {
        public double speedup() {
            return uncachedTtftMs.median() / cachedTtftMs.median();
        }
    }

    public ServingBench(LlmEngine engine, int bos, PrintStream log) {
        this.engine = engine;
        this.vocabSize = engine.info().vocabSize();
        this.bos = bos;
        this.log = log;
    }

    public LevelResult level(int concurrency, int promptTokens, int genTokens, int warmup, int reps) {
        double[] decode = new double[reps];
        double[] prefill = new double[reps];
        double[] ttft = new double[reps];
        for (int i = 0; i < warmup + reps; i++) {
            List<Timed> timed = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int c = 0; c < concurrency; c++) {
                int[] prompt = ForwardTimer.promptTokens(promptTokens, vocabSize, bos, seed(concurrency, i, c));
                timed.add(submit("c" + concurrency + "-" + i + "-" + c, prompt, genTokens));
            }
            long allStarted = 0;
            long lastToken = 0;
            double ttftSum = 0;
            for (Timed t : timed) {
                t.await();
                allStarted = Math.max(allStarted, t.times.getFirst());
                lastToken = Math.max(lastToken, t.times.getLast());
                ttftSum += (t.times.getFirst() - t0) / 1e6;
            }
            long decoded = 0;
            for (Timed t : timed) {
                for (long time : t.times) {
                    if (time > allStarted) {
                        decoded++;
                    }
                }
            }
            double d = lastToken > allStarted ? decoded / ((lastToken - allStarted) / 1e9) : 0;
            double p = (double) concurrency * promptTokens / ((allStarted - t0) / 1e9);
            double f = ttftSum / concurrency;
            boolean counted = i >= warmup;
            log.printf("  concurrency %d %s: decode %.1f tok/s, prompt %.1f tok/s, ttft %.0f ms%n", concurrency,
                    counted ? "rep " + (i - warmup + 1) + "/" + reps : "warm-up", d, p, f);
            if (counted) {
                decode[i - warmup] = d;
                prefill[i - warmup] = p;
                ttft[i - warmup] = f;
            }
        }
        return new LevelResult(concurrency, Stat.of(decode), Stat.of(prefill), Stat.of(ttft));
    }

    public PrefixResult prefix(int promptTokens, int sharedPrefixTokens, int warmup, int reps) {
        double[] uncached = new double[reps];
        double[] cached = new double[reps];
        int cachedTokens = 0;
        for (int i = 0; i < warmup + reps; i++) {
            int[] first = ForwardTimer.promptTokens(promptTokens, vocabSize, bos, seed(-1, i, 0));
            int[] second = ForwardTimer.promptTokens(promptTokens, vocabSize, bos, seed(-1, i, 1));
            System.arraycopy(first, 0, second, 0, sharedPrefixTokens);
            Timed cold = submit("prefix-cold-" + i, first, 1);
            cold.await();
            Timed warm = submit("prefix-warm-" + i, second, 1);
            warm.await();
            double u = (cold.times.getFirst() - cold.submittedNs) / 1e6;
            double c = (warm.times.getFirst() - warm.submittedNs) / 1e6;
            cachedTokens = warm.usage.cachedPromptTokens();
            boolean counted = i >= warmup;
            log.printf("  prefix %s: ttft uncached %.1f ms, with %d cached tokens %.1f ms%n",
                    counted ? "rep " + (i - warmup + 1) + "/" + reps : "warm-up", u, cachedTokens, c);
            if (counted) {
                uncached[i - warmup] = u;
                cached[i - warmup] = c;
            }
        }
        return new PrefixResult(promptTokens, sharedPrefixTokens, cachedTokens, Stat.of(uncached), Stat.of(cached));
    }

    private static long seed(int level, int rep, int request) {
        return 0x5EED_0000L + level * 1_000_003L + rep * 1009L + request;
    }

    /** Constrains every request's output from now on (null: none). */
    public void constrain(OutputConstraint c) {
        this.constraint = c;
    }

    private Timed submit(String id, int[] prompt, int genTokens) {
        Timed t = new Timed();
        t.submittedNs = System.nanoTime();
        engine.submit(new GenerateRequest(id, prompt, SamplingParams.GREEDY, genTokens, null, true, -1)
                .withConstraint(constraint), t);
        return t;
    }

    /** Records token arrival times on the engine thread. */
    private static final class Timed implements TokenSink {
        final List<Long> times = new ArrayList<>();
        final CompletableFuture<FinishReason> done = new CompletableFuture<>();
        long submittedNs;
        Usage usage;

        @Override
        public synchronized void onToken(GeneratedToken token) {
            times.add(System.nanoTime());
        }

        @Override
        public synchronized void onFinish(FinishReason reason, Usage u) {
            usage = u;
            done.complete(reason);
        }

        @Override
        public void onError(TandemException error) {
            done.completeExceptionally(error);
        }

        void await() {
            try {
                done.get(REQUEST_TIMEOUT_S, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new RequestException(RequestException.Kind.CANCELLED, "benchmark interrupted");
            } catch (TimeoutException e) {
                throw new RequestException(RequestException.Kind.TIMEOUT, "a benchmark request took over "
                        + REQUEST_TIMEOUT_S + " s");
            } catch (ExecutionException e) {
                if (e.getCause() instanceof TandemException t) {
                    throw t;
                }
                throw new IllegalStateException("benchmark request failed", e.getCause());
            }
            synchronized (this) {
                if (times.isEmpty()) {
                    throw new IllegalStateException("a benchmark request finished without tokens");
                }
            }
        }
    }
}
