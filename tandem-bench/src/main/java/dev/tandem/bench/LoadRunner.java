package dev.tandem.bench;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * Sends a workload's sessions to a server under one {@link ArrivalMode} and collects every
 * request's result: the arrival scheduler.
 *
 * <h2>Design</h2>
 * One dispatcher (the calling thread) decides when each request leaves; every request then runs
 * on its own virtual thread, so a slow stream never delays the next arrival. Sessions wait in a
 * {@link ReadyQueue} ordered by ready time:
 * <ul>
 *   <li>at the start every session's first request is ready at {@code start} (or, under
 *       {@link ArrivalMode.TraceTime}, at {@code start + timestamp / speedup});</li>
 *   <li>when a request of a multi-turn session finishes, its reply joins the session's history
 *       and the session goes back to the <em>tail</em> of the queue, ready now. So with N
 *       conversations and concurrency C &lt; N, turn 1 of every conversation is sent before any
 *       turn 2, and conversations interleave as a real chat service sees them;</li>
 *   <li>a failed request ends its session; its remaining turns are counted as skipped (their
 *       history would be missing a reply).</li>
 * </ul>
 * The modes then decide when the dispatcher takes the next ready request:
 * <ul>
 *   <li>{@link ArrivalMode.Concurrency} (closed loop): when fewer than C requests are in flight;</li>
 *   <li>{@link ArrivalMode.Rate} (open loop): at fixed or exponential gaps from a seeded stream.
 *       If no request is ready at an arrival slot (every conversation is waiting for a reply),
 *       the arrival waits for the next ready one and the delay shows as dispatch lag; the slots
 *       that follow keep their schedule;</li>
 *   <li>{@link ArrivalMode.TraceTime} (open loop): when the head's ready time comes.</li>
 * </ul>
 * The run ends when every session has finished; its duration runs from the start to the end of
 * the last request.
 *
 * <h2>Invariants</h2>
 * A session is queued or in flight, never both, so its turns run strictly in order and its
 * history is complete when its next request is built. Every request's thread finishes its
 * session or puts it back, whatever happens (a failing executor becomes a failed result), so the
 * dispatcher never waits forever.
 *
 * <h2>Concurrency</h2>
 * The dispatcher alone builds requests; request threads only record results and hand the session
 * back through the queue's lock. Results go to a concurrent queue and the listener, which must be
 * safe for concurrent use.
 *
 * <h2>References</h2>
 * vLLM {@code benchmark_serving.py} (request rate with Poisson or gamma gaps, max concurrency)
 * and its multi-turn benchmark (clients that send a conversation's next turn after the reply);
 * SGLang {@code bench_serving.py}; the Mooncake trace format (FAST '25).
 */
public final class LoadRunner {
    private static final System.Logger LOG = System.getLogger(LoadRunner.class.getName());

    /** Told about every finished request, on the request's thread. */
    public interface Listener {
        void finished(PreparedRequest request, RequestResult result);
    }

    /** A finished run: results ordered by start time, the run's start and end, and skipped turns. */
    public record Outcome(List<RequestResult> results, long startNs, long endNs, int skippedTurns) {
        public Outcome {
            results = List.copyOf(results);
        }

        public long durationNs() {
            return Math.max(1, endNs - startNs);
        }
    }

    private final RequestExecutor executor;
    private final RequestFactory factory;
    private final ArrivalMode mode;
    private final long arrivalSeed;
    private final Listener listener;

    /**
     * @param arrivalSeed seeds the gaps of {@link ArrivalMode.Rate}
     * @param listener    told about each finished request (progress, tests); may be null
     */
    public LoadRunner(RequestExecutor executor, RequestOptions options, ArrivalMode mode, long arrivalSeed,
                      Listener listener) {
        this.executor = executor;
        this.factory = new RequestFactory(options);
        this.mode = mode;
        this.arrivalSeed = arrivalSeed;
        this.listener = listener == null ? (r, res) -> { } : listener;
    }

    public Outcome run(Workload workload) {
        List<Session> sessions = workload.sessions();
        boolean traceTimed = mode instanceof ArrivalMode.TraceTime;
        if (traceTimed && !workload.timed()) {
            throw new dev.tandem.core.ConfigException("--speedup (trace timestamps) needs a workload with "
                    + "timestamps (trace); use --concurrency or --rate for " + workload.name());
        }
        ReadyQueue ready = new ReadyQueue(System::nanoTime);
        ConcurrentLinkedQueue<RequestResult> results = new ConcurrentLinkedQueue<>();
        AtomicInteger skipped = new AtomicInteger();
        Semaphore slots = mode instanceof ArrivalMode.Concurrency c ? new Semaphore(c.clients()) : null;
        ArrivalGaps gaps = mode instanceof ArrivalMode.Rate r ? new ArrivalGaps(r, arrivalSeed) : null;
        double speedup = mode instanceof ArrivalMode.TraceTime t ? t.speedup() : 1;
        long startNs = System.nanoTime();
        for (Session s : sessions) {
            long offsetNs = traceTimed ? Math.round(s.arrivalOffsetNs() / speedup) : 0;
            ready.addNew(new SessionState(s), startNs + offsetNs);
        }
        long nextArrivalNs = startNs;
        try (ExecutorService requests = Executors.newVirtualThreadPerTaskExecutor()) {
            while (true) {
                if (slots != null) {
                    slots.acquire();
                }
                if (gaps != null) {
                    sleepUntil(nextArrivalNs);
                }
                ReadyQueue.Entry entry = ready.take();
                if (entry == null) {
                    break;
                }
                long scheduledNs = switch (mode) {
                    case ArrivalMode.Concurrency c -> System.nanoTime();
                    case ArrivalMode.Rate r -> nextArrivalNs;
                    case ArrivalMode.TraceTime t -> entry.readyAtNs();
                };
                if (gaps != null) {
                    nextArrivalNs += gaps.nextNs();
                }
                SessionState state = entry.session();
                int turn = state.nextTurn++;
                PreparedRequest request = factory.prepare(state.session, turn, state.history, scheduledNs);
                requests.submit(() -> {
                    RequestResult result = send(request);
                    results.add(result);
                    finishTurn(state, turn, result, ready, skipped);
                    if (slots != null) {
                        slots.release();
                    }
                    listener.finished(request, result);
                });
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new dev.tandem.core.TandemException("interrupted while running the benchmark", e);
        }
        List<RequestResult> ordered = new ArrayList<>(results);
        ordered.sort(Comparator.comparingLong(RequestResult::startNs));
        long endNs = ordered.stream().mapToLong(RequestResult::endNs).max().orElse(startNs);
        return new Outcome(ordered, startNs, endNs, skipped.get());
    }

    private RequestResult send(PreparedRequest request) {
        try {
            return executor.execute(request);
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "[session=" + request.sessionId() + " turn=" + request.turn()
                    + "] the request executor failed", e);
            long now = System.nanoTime();
            return RequestResult.builder(request.sessionId(), request.turn(), now).endNs(now)
                    .error("client_error", e.toString()).build();
        }
    }

    private static void finishTurn(SessionState state, int turn, RequestResult result, ReadyQueue ready,
                                   AtomicInteger skipped) {
        if (!result.ok()) {
            skipped.addAndGet(state.session.steps().size() - turn - 1);
            ready.finish();
            return;
        }
        state.recordReply(state.session.steps().get(turn), result.reply());
        if (state.hasMore()) {
            ready.putBack(state, System.nanoTime());
        } else {
            ready.finish();
        }
    }

    private static void sleepUntil(long deadlineNs) throws InterruptedException {
        long waitNs;
        while ((waitNs = deadlineNs - System.nanoTime()) > 0) {
            LockSupport.parkNanos(waitNs);
            if (Thread.interrupted()) {
                throw new InterruptedException();
            }
        }
    }
}
