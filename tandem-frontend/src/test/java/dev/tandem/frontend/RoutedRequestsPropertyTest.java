package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.VirtualClock;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Whatever way a request ends, the router gets its load back exactly once: requests routed by the
 * real {@link RouterSelector} (decode, and sometimes prefill, decisions) end in random ways (done,
 * error before the first token, cancel racing the end, client gone, a stream moved to another
 * worker, a decision made after the request ended), from one or two threads; afterwards every
 * decision's load was given back once, and the router counts nothing in flight.
 */
class RoutedRequestsPropertyTest {
    private static final int TRIES = 300;
    private static final int BLOCK = 16;

    private final List<LlmEngine> engines = new ArrayList<>();
    private final WorkerSet workers = new WorkerSet();
    private RouterSelector router;

    /** How a request ends. */
    private enum Ending { DONE, ERROR_BEFORE_FIRST_TOKEN, CANCEL_RACES_END, CLIENT_GONE, MIGRATED, ROUTED_AFTER_END }

    @BeforeEach
    void start() {
        router = new RouterSelector(RouterConfig.defaults().withBlockSizeTokens(BLOCK)
                .withPolicy(RouterConfig.PolicyKind.KV), new Random(3));
        workers.addListener(router);
        VirtualClock clock = new VirtualClock();
        String[] ids = {"decode-0", "decode-1", "prefill-0"};
        WorkerRole[] roles = {WorkerRole.DECODE, WorkerRole.DECODE, WorkerRole.PREFILL};
        for (int i = 0; i < ids.length; i++) {
            LlmEngine e = MockEngine.driven(MockConfig.DEFAULT.withModelName("m").withVocabSize(300)
                    .withContextLength(4096).withEngine(EngineConfig.DEFAULT.withKvBlocks(256)), clock);
            engines.add(e);
            workers.add(new Worker(ids[i], roles[i], e));
        }
    }

    @AfterEach
    void stop() {
        router.close();
        engines.forEach(LlmEngine::close);
    }

    @Test
    void anyEnding_givesTheRoutersLoadBackExactlyOnce() throws Exception {
        SplittableRandom random = new SplittableRandom(20261207);
        for (int t = 0; t < TRIES; t++) {
            Counting counting = new Counting(router);
            Ending ending = Ending.values()[random.nextInt(Ending.values().length)];
            int prompts = 1 + random.nextInt(3);
            RoutedRequests routes = new RoutedRequests();
            List<RoutedRequest> decodes = new ArrayList<>();
            List<RoutedRequest> prefills = new ArrayList<>();
            for (int p = 0; p < prompts; p++) {
                RoutingRequest r = request("r" + t + "-" + p, random);
                decodes.add(routes.add(counting.select(r, workers.all().stream()
                        .filter(w -> w.role() == WorkerRole.DECODE).toList())));
                if (random.nextBoolean()) {
                    RoutedRequest pre = counting.selectPrefill(r, workers.prefillingModel("m"), Long.MAX_VALUE);
                    if (pre != null) {
                        prefills.add(routes.add(pre));
                    }
                }
            }
            assertThat(inFlight()).as("try %d: routed", t).isPositive();

            end(ending, routes, decodes, prefills, counting, random, "r" + t);

            assertThat(counting.finished.get()).as("try %d (%s): decisions given back", t, ending)
                    .isEqualTo(counting.made.get());
            assertThat(counting.doubleFinish.get()).as("try %d (%s): given back twice", t, ending).isZero();
            assertThat(counting.prefillDoneAfterFinish.get()).as("try %d (%s)", t, ending).isZero();
            for (Router.WorkerStatus w : router.router().workers()) {
                assertThat(w.inFlightRequests()).as("try %d (%s): %s in flight", t, ending, w.workerId()).isZero();
                assertThat(w.queuedPrefillTokens()).as("try %d (%s): %s prefill", t, ending, w.workerId()).isZero();
                assertThat(w.activeBlocks()).as("try %d (%s): %s blocks", t, ending, w.workerId()).isZero();
            }
        }
    }

    private void end(Ending ending, RoutedRequests routes, List<RoutedRequest> decodes, List<RoutedRequest> prefills,
                     Counting counting, SplittableRandom random, String id) throws InterruptedException {
        switch (ending) {
            case DONE -> {
                prefills.forEach(RoutedRequest::close); // the prefill worker answered
                decodes.forEach(RoutedRequest::firstToken);
                if (random.nextBoolean()) {
                    decodes.forEach(RoutedRequest::firstToken); // a second choice of the same prompt
                }
                routes.close();
            }
            case ERROR_BEFORE_FIRST_TOKEN -> routes.close();
            case CANCEL_RACES_END -> {
                Thread other = Thread.ofVirtual().start(() -> decodes.forEach(RoutedRequest::close));
                decodes.forEach(RoutedRequest::firstToken);
                routes.close();
                other.join();
            }
            case CLIENT_GONE -> {
                if (random.nextBoolean()) {
                    decodes.getFirst().firstToken();
                }
                Thread other = Thread.ofVirtual().start(routes::close);
                routes.close();
                other.join();
            }
            case MIGRATED -> {
                // the stream's worker was lost after its first token: the rest goes to a new decision
                decodes.getFirst().firstToken();
                routes.add(counting.select(request(id + "-m1", random), workers.all().stream()
                        .filter(w -> w.role() == WorkerRole.DECODE).toList())).firstToken();
                routes.close();
            }
            case ROUTED_AFTER_END -> {
                routes.close();
                RoutedRequest late = routes.add(counting.select(request(id + "-late", random),
                        workers.all().stream().filter(w -> w.role() == WorkerRole.DECODE).toList()));
                assertThat(late.closed()).isTrue();
                late.firstToken();
            }
        }
    }

    private static RoutingRequest request(String id, SplittableRandom random) {
        int tokens = 1 + random.nextInt(200);
        long[] hashes = new long[tokens / BLOCK];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = random.nextLong();
        }
        return new RoutingRequest(id, hashes, tokens, null);
    }

    private long inFlight() {
        return router.router().workers().stream().mapToLong(Router.WorkerStatus::inFlightRequests).sum();
    }

    /** Wraps each decision so the test sees every give-back the request makes. */
    private static final class Counting implements WorkerSelector {
        private final WorkerSelector inner;
        final AtomicInteger made = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        final AtomicInteger doubleFinish = new AtomicInteger();
        final AtomicInteger prefillDoneAfterFinish = new AtomicInteger();

        Counting(WorkerSelector inner) {
            this.inner = inner;
        }

        @Override
        public RoutedRequest select(RoutingRequest request, List<Worker> candidates) {
            return counted(inner.select(request, candidates));
        }

        @Override
        public RoutedRequest selectPrefill(RoutingRequest request, List<Worker> prefillWorkers, long busy) {
            RoutedRequest r = inner.selectPrefill(request, prefillWorkers, busy);
            return r == null ? null : counted(r);
        }

        private RoutedRequest counted(RoutedRequest r) {
            made.incrementAndGet();
            AtomicBoolean done = new AtomicBoolean();
            return new RoutedRequest(r.worker(), r.predictedCachedTokens(), new RoutedRequest.Load() {
                @Override
                public void prefillDone() {
                    if (done.get()) {
                        prefillDoneAfterFinish.incrementAndGet();
                    }
                    r.firstToken();
                }

                @Override
                public void finished() {
                    if (done.getAndSet(true)) {
                        doubleFinish.incrementAndGet();
                    } else {
                        finished.incrementAndGet();
                    }
                    r.close();
                }
            });
        }
    }
}
