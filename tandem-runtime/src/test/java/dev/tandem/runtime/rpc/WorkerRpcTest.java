package dev.tandem.runtime.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvHandle;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException.Kind;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.Usage;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.runtime.ExternalProcess;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EmbeddedEventBus;
import dev.tandem.runtime.events.KvEventPublisher;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The request plane over real loopback sockets, against a fake engine (the RPC is under test). */
@Timeout(30)
class WorkerRpcTest {
    private static final RuntimeConfig CONFIG = RuntimeConfig.defaults().withNamespace("rpc");
    private static final AtomicInteger IDS = new AtomicInteger();
    private static FakeEngine engine;
    private static FakePrefill prefill;
    private static WorkerRpcServer server;
    private static RemoteEngine remote;

    @BeforeAll
    static void start() {
        engine = new FakeEngine(20);
        prefill = new FakePrefill();
        server = WorkerRpcServer.start("127.0.0.1", 0, engine, prefill, CONFIG);
        remote = RemoteEngine.connect(server.address(), CONFIG);
    }

    @AfterAll
    static void stop() {
        if (remote != null) {
            remote.close();
        }
        if (server != null) {
            server.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    private static String id(String prefix) {
        return prefix + IDS.incrementAndGet();
    }

    private static GenerateRequest request(String id, int maxTokens, int topLogprobs) {
        return new GenerateRequest(id, new int[] {5, 6, 7, 8, 9}, SamplingParams.GREEDY.withSeed(11L), maxTokens,
                new int[] {999}, false, topLogprobs);
    }

    @Test
    void generate_streamsTokensWithLogprobsThenUsage() throws InterruptedException {
        GenerateRequest req = request(id("stream-"), 12, 3);
        RecordingSink sink = new RecordingSink();
        remote.submit(req, sink);

        assertThat(sink.awaitDone(5_000)).isTrue();
        List<GeneratedToken> expected = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            expected.add(FakeEngine.expectedToken(req, i));
        }
        assertThat(sink.tokens).isEqualTo(expected);
        assertThat(sink.tokens.get(3).topIds()).hasSize(3);
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.usage).isEqualTo(new Usage(5, 2, 0, 12));
        assertThat(sink.terminalCalls).isEqualTo(1);
    }

    @Test
    void generate_withoutLogprobs_nanSurvivesTheWire() throws InterruptedException {
        RecordingSink sink = new RecordingSink();
        remote.submit(request(id("plain-"), 3, -1), sink);
        assertThat(sink.awaitDone(5_000)).isTrue();
        assertThat(sink.tokens).hasSize(3).allMatch(t -> !t.hasLogprob() && t.topIds().length == 0);
    }

    @Test
    void generate_clientCancel_reachesEngineAndFreesBlocks() throws InterruptedException {
        String id = id("cancel-");
        RecordingSink sink = new RecordingSink(3);
        var handle = remote.submit(request(id, 10_000, -1), sink);
        assertThat(sink.awaitTokens(5_000)).isTrue();
        assertThat(engine.activeBlocks()).isPositive();

        handle.cancel();
        assertThat(sink.awaitDone(5_000)).isTrue();
        assertThat(sink.reason).isEqualTo(FinishReason.CANCELLED);
        assertThat(sink.usage.completionTokens()).isEqualTo(sink.tokenCount());
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.cancelledIds().contains(id));
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.activeBlocks() == 0);
        assertThat(remote.runningRequests()).isZero();
    }

    @Test
    void generate_deadlineExceeded_timeoutAndEngineCancelled() throws InterruptedException {
        String id = id("deadline-");
        RecordingSink sink = new RecordingSink();
        remote.submit(request(id, 10_000, -1), sink, Duration.ofMillis(300));

        assertThat(sink.awaitDone(5_000)).isTrue();
        assertThat(sink.error).isInstanceOf(RequestException.class);
        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.TIMEOUT);
        assertThat(sink.error).hasMessageContaining("300 ms").hasMessageContaining(id);
        assertThat(sink.tokenCount()).isPositive();
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.cancelledIds().contains(id));
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.activeBlocks() == 0);
    }

    @Test
    void generate_invalidRequest_sameKindAndParamAsLocally() throws InterruptedException {
        RecordingSink sink = new RecordingSink();
        remote.submit(new GenerateRequest(id("bad-"), new int[] {-3}, SamplingParams.GREEDY, 4, null, false, -1), sink);
        assertThat(sink.awaitDone(5_000)).isTrue();
        RequestException e = (RequestException) sink.error;
        assertThat(e.kind()).isEqualTo(Kind.INVALID);
        assertThat(e.param()).isEqualTo("prompt");
        assertThat(e).hasMessage("token id -3 is outside the vocabulary");
    }

    @Test
    void generate_engineFailsMidStream_internalErrorAfterTokens() throws InterruptedException {
        RecordingSink sink = new RecordingSink();
        remote.submit(request(id("fail-"), 100, -1), sink);
        assertThat(sink.awaitDone(5_000)).isTrue();
        assertThat(sink.tokens).hasSize(2);
        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.INTERNAL);
        assertThat(sink.error).hasMessageContaining("simulated engine failure");
    }

    @Test
    void generate_throwingSink_requestCancelledOnWorker() throws InterruptedException {
        String id = id("throwing-");
        CountDownLatch done = new CountDownLatch(1);
        List<String> calls = new CopyOnWriteArrayList<>();
        remote.submit(request(id, 10_000, -1), new dev.tandem.core.TokenSink() {
            @Override
            public void onToken(GeneratedToken token) {
                calls.add("token");
                throw new IllegalStateException("client bug");
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                calls.add("finish " + reason);
                done.countDown();
            }

            @Override
            public void onError(TandemException error) {
                calls.add("error");
                done.countDown();
            }
        });
        assertThat(done.await(5, TimeUnit.SECONDS)).isTrue();
        assertThat(calls).containsExactly("token", "finish CANCELLED");
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.cancelledIds().contains(id));
    }

    @Test
    void close_withRunningRequests_cancelsThemEverywhere() throws InterruptedException {
        String id = id("closing-");
        RemoteEngine own = RemoteEngine.connect(server.address(), CONFIG);
        RecordingSink sink = new RecordingSink();
        own.submit(request(id, 10_000, -1), sink);
        assertThat(sink.awaitTokens(5_000)).isTrue();
        own.close();
        assertThat(sink.awaitDone(5_000)).isTrue();
        assertThat(sink.reason).isEqualTo(FinishReason.CANCELLED);
        await().atMost(5, TimeUnit.SECONDS).until(() -> engine.cancelledIds().contains(id));
    }

    @Test
    void kvSnapshot_largeSnapshot_roundTrips() {
        SplittableRandom rnd = new SplittableRandom(77);
        long[] hashes = new long[200_000];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = rnd.nextLong();
        }
        engine.snapshot = new KvSnapshot(123_456, hashes);
        assertThat(remote.kvSnapshot()).isEqualTo(new KvSnapshot(123_456, hashes));
        assertThat(remote.kvSnapshotAsync().join()).isEqualTo(new KvSnapshot(123_456, hashes));
        engine.snapshot = new KvSnapshot(-1, new long[0]);
        assertThat(remote.kvSnapshot()).isEqualTo(new KvSnapshot(-1, new long[0]));
    }

    @Test
    void healthLoadAndInfo_roundTrip() {
        HealthStatus health = remote.health();
        assertThat(health.serving()).isTrue();
        assertThat(health.info()).isEqualTo(FakeEngine.INFO);
        assertThat(remote.info()).isEqualTo(FakeEngine.INFO);
        assertThat(remote.load()).isEqualTo(engine.load());
    }

    @Test
    void health_afterDrain_notServing() {
        FakeEngine e = new FakeEngine(20);
        try (WorkerRpcServer s = WorkerRpcServer.start("127.0.0.1", 0, e, null, CONFIG);
             RemoteEngine r = RemoteEngine.connect(s.address(), CONFIG)) {
            assertThat(r.health().serving()).isTrue();
            s.drain();
            assertThat(r.health().serving()).isFalse();
        } finally {
            e.close();
        }
    }

    @Test
    void prefill_returnsFirstTokenAndHandle_thenRelease() throws Exception {
        GenerateRequest req = request(id("prefill-"), 1, 0);
        PrefillResult result = remote.prefill(req).get(5, TimeUnit.SECONDS);
        assertThat(result).isEqualTo(FakePrefill.resultFor(req));
        assertThat(remote.release(result.handle().handleId())).isTrue();
        assertThat(remote.release(result.handle().handleId())).isFalse();
    }

    @Test
    void prefill_cancelledByCaller_cancelledOnWorker() throws Exception {
        GenerateRequest req = request(id("slow-prefill-"), 1, 0);
        CompletableFuture<PrefillResult> f = remote.prefill(req);
        await().atMost(5, TimeUnit.SECONDS).until(() -> prefill.pending.containsKey(req.requestId()));
        f.cancel(true);
        await().atMost(5, TimeUnit.SECONDS).until(() -> prefill.pending.get(req.requestId()).isCancelled());
    }

    @Test
    void prefill_answerAfterTheCallerLeft_handleReleasedOnTheWorker() throws Exception {
        GenerateRequest req = request(id("deaf-prefill-"), 1, 0);
        CompletableFuture<PrefillResult> f = remote.prefill(req);
        await().atMost(5, TimeUnit.SECONDS).until(() -> prefill.pending.containsKey(req.requestId()));
        f.cancel(true);
        await().atMost(5, TimeUnit.SECONDS).until(() -> prefill.cancelAttempts.contains(req.requestId()));

        // the prefill finishes anyway (it ignored the cancel): its pin must not wait for the TTL
        PrefillResult r = FakePrefill.resultFor(req);
        prefill.handles.put(r.handle().handleId(), true);
        prefill.pending.get(req.requestId()).complete(r);

        await().atMost(5, TimeUnit.SECONDS).until(() -> !prefill.handles.containsKey(r.handle().handleId()));
    }

    @Test
    void prefill_workerWithoutPrefill_unavailableNamingIt() {
        FakeEngine e = new FakeEngine(20);
        try (WorkerRpcServer s = WorkerRpcServer.start("127.0.0.1", 0, e, null, CONFIG);
             RemoteEngine r = RemoteEngine.connect(s.address(), CONFIG)) {
            assertThatThrownBy(() -> r.prefill(request("p", 1, -1)).get(5, TimeUnit.SECONDS))
                    .isInstanceOf(ExecutionException.class).cause()
                    .isInstanceOf(RequestException.class).hasMessageContaining("does not prefill")
                    .extracting(c -> ((RequestException) c).kind()).isEqualTo(Kind.UNAVAILABLE);
        } finally {
            e.close();
        }
    }

    @Test
    void unreachableWorker_workerLostQuickly() throws InterruptedException {
        int port = ExternalProcess.freePort();
        try (RemoteEngine r = RemoteEngine.connect("127.0.0.1:" + port, CONFIG)) {
            RecordingSink sink = new RecordingSink();
            r.submit(request(id("nowhere-"), 4, -1), sink);
            assertThat(sink.awaitDone(5_000)).isTrue();
            assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.WORKER_LOST);
            assertThat(sink.error).hasMessageContaining("127.0.0.1:" + port);
            assertThatThrownBy(r::load).isInstanceOf(RequestException.class)
                    .extracting(e -> ((RequestException) e).kind()).isEqualTo(Kind.WORKER_LOST);
        }
    }

    @Test
    void subscribe_readsWorkerKvEventsFromEventBus() {
        try (EmbeddedEventBus bus = new EmbeddedEventBus(1_000);
             KvEventPublisher publisher = new KvEventPublisher(bus, "w7", CONFIG)) {
            WorkerRecord record = new WorkerRecord("w7", WorkerRole.AGGREGATED, "fake-model", server.address(),
                    FakeEngine.INFO.layout(), 1024, 256, List.of(), "host");
            List<Long> seen = new CopyOnWriteArrayList<>();
            try (RemoteEngine r = RemoteEngine.connect(record, CONFIG, bus);
                 AutoCloseable _ = r.subscribe(e -> seen.add(e.eventId()));
                 AutoCloseable _ = engine.subscribe(publisher)) {
                engine.emit(new KvEvent.Stored(0, false, 0, new long[] {1}, new long[] {2}));
                engine.emit(new KvEvent.Removed(1, new long[] {1}));
                await().atMost(5, TimeUnit.SECONDS).until(() -> seen.equals(List.of(0L, 1L)));
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
        assertThatThrownBy(() -> remote.subscribe(e -> { })).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("event plane");
    }

    /** Prefill stand-in: answers at once, except for "slow-prefill-*" requests which wait to be cancelled. */
    static final class FakePrefill implements PrefillService {
        final Map<String, CompletableFuture<PrefillResult>> pending = new ConcurrentHashMap<>();
        final Map<Long, Boolean> handles = new ConcurrentHashMap<>();
        /** Requests whose prefill someone tried to cancel ("deaf-prefill-" ones ignore it). */
        final java.util.Set<String> cancelAttempts = ConcurrentHashMap.newKeySet();

        static PrefillResult resultFor(GenerateRequest req) {
            return new PrefillResult(FakeEngine.expectedToken(req, 0),
                    new KvHandle(req.requestId().hashCode() & 0xFFFF_FFFFL, "prefill-1",
                            List.of(new TransferEndpoint(TransferKind.SHM, "host-1", "/dev/shm/tandem-p1"),
                                    new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:9000")),
                            new int[] {4, 5}, new long[] {-1L, 42L}, req.promptLength(), FakeEngine.INFO.layout(),
                            1_700_000_000_000L),
                    new Usage(req.promptLength(), 0, 0, 1));
        }

        @Override
        public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
            boolean deaf = request.requestId().startsWith("deaf-prefill-");
            CompletableFuture<PrefillResult> f = new CompletableFuture<>() {
                @Override
                public boolean cancel(boolean mayInterrupt) {
                    cancelAttempts.add(request.requestId());
                    return !deaf && super.cancel(mayInterrupt);
                }
            };
            pending.put(request.requestId(), f);
            if (!request.requestId().startsWith("slow-prefill-") && !deaf) {
                PrefillResult r = resultFor(request);
                handles.put(r.handle().handleId(), true);
                f.complete(r);
            }
            return f;
        }

        @Override
        public boolean release(long handleId) {
            return handles.remove(handleId) != null;
        }
    }
}
