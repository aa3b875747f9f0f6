package dev.tandem.runtime.kvevents;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.WorkerRole;
import dev.tandem.router.Decision;
import dev.tandem.router.RouteRequest;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The router, at vLLM's block size (16), routes a request to the worker whose engine announced
 * the prompt's prefix in vLLM's own KV event messages, and recovers that worker's blocks from the
 * translator's snapshot when it asks for one.
 */
@Timeout(60)
class VllmEventsRoutingTest {
    private static final int ENGINE_BLOCK = 16;
    private static final Duration WAIT = Duration.ofSeconds(15);

    @Test
    void route_promptWhosePrefixTheEngineAnnounced_goesToThatWorker() throws Exception {
        AtomicReference<KvEventTranslator> translatorOfA = new AtomicReference<>();
        AtomicReference<Router> routerRef = new AtomicReference<>();
        // a snapshot request is answered from the translator, as the worker's KvSnapshot RPC would be
        Router router = Router.create(RouterConfig.defaults().withBlockSizeTokens(ENGINE_BLOCK).withMaxWorkers(4),
                id -> routerRef.get().onKvSnapshot(id, translatorOfA.get().kvSnapshot()), System::nanoTime,
                new Random(3));
        routerRef.set(router);
        router.addWorker("a", WorkerRole.AGGREGATED, true);
        router.addWorker("b", WorkerRole.AGGREGATED, true);
        int[] system = IntStream.range(0, 3 * ENGINE_BLOCK).map(i -> 11 + i % 97).toArray();
        int[] prompt = IntStream.concat(Arrays.stream(system), IntStream.range(0, 20)).toArray();   // 4 full blocks + 4

        try (VllmPublisherProcess engine = new VllmPublisherProcess()) {
            KvEventTranslator translator = new KvEventTranslator("a", ENGINE_BLOCK, 10_000);
            translatorOfA.set(translator);
            translator.subscribe(e -> router.onKvEvent("a", e));
            try (VllmKvEventSubscriber sub = new VllmKvEventSubscriber("a", VllmKvEventSubscriber.Config.of(
                    engine.endpoint(), engine.replayEndpoint()), translator).start()) {
                await().atMost(WAIT).pollInterval(Duration.ofMillis(50)).until(() -> {
                    engine.raw("warm-up".getBytes(StandardCharsets.UTF_8));
                    return sub.stats().malformedMessages() > 0;
                });
                // vLLM caches the shared system prompt as three blocks, announced in two batches
                engine.batch("array", "int", true, List.of(VllmPublisherProcess.stored(new long[] {501, 502}, null,
                        Arrays.copyOf(system, 2 * ENGINE_BLOCK), ENGINE_BLOCK)));
                engine.batch("map", "int", true, List.of(VllmPublisherProcess.stored(new long[] {503}, 502L,
                        Arrays.copyOfRange(system, 2 * ENGINE_BLOCK, 3 * ENGINE_BLOCK), ENGINE_BLOCK)));
                await().atMost(WAIT).until(() -> router.workers().stream()
                        .anyMatch(w -> w.workerId().equals("a") && w.indexedBlocks() == 3));

                // what the frontend sends: the prompt's block hashes at the engine's block size
                Decision d = router.route(RouteRequest.ofTokens("r1", prompt, ENGINE_BLOCK));
                assertThat(d).isInstanceOfSatisfying(Decision.Routed.class, r -> {
                    assertThat(r.workerId()).isEqualTo("a");
                    assertThat(r.overlapBlocks()).isEqualTo(3);
                });
                router.finished((Decision.Routed) d);

                // the router loses track (say it restarted): a snapshot from the translator restores it
                router.removeWorker("a");
                router.addWorker("a", WorkerRole.AGGREGATED, true);
                router.resync("a");
                Decision again = router.route(RouteRequest.ofTokens("r2", prompt, ENGINE_BLOCK));
                assertThat(again).isInstanceOfSatisfying(Decision.Routed.class, r -> {
                    assertThat(r.workerId()).isEqualTo("a");
                    assertThat(r.overlapBlocks()).isEqualTo(3);
                });
                router.checkInvariants();
            }
        }
    }
}
