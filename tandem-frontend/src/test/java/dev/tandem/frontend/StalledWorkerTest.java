package dev.tandem.frontend;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.RequestException;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.RemoteEngine;
import dev.tandem.runtime.rpc.WorkerRpcServer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A worker whose streams stop moving while it stays registered (frozen process, black-holed
 * path): the frontend asks its health after {@code stallProbeMs} without a token and, when it does
 * not answer, fails its stalled streams over at once. A worker that answers keeps its streams.
 */
@Timeout(60)
class StalledWorkerTest {
    /** Frozen case: silent this long, then a health call with twice this deadline. */
    private static final long STALL_PROBE_MS = 400;
    /** Slow case: more generous, so a loaded test machine's late health answer is not taken for a frozen worker. */
    private static final long SLOW_STALL_PROBE_MS = 1_000;
    /** Long lease and keepalive: only the stall probe can notice a frozen worker within the test. */
    private final RuntimeConfig runtime = RuntimeConfig.defaults().withRpcTimeouts(60_000, 5_000, 30_000);
    private final WorkerSet workers = new WorkerSet();
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private RemoteWorkers remote;

    @AfterEach
    void tearDown() throws Exception {
        if (remote != null) {
            remote.close();
        }
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private LlmEngine engine(int maxSequences, double speedup) {
        LlmEngine e = MockEngine.start(MockConfig.DEFAULT.withModelName("m")
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(256).withMaxSequences(maxSequences))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(speedup)));
        toClose.add(e);
        return e;
    }

    /** The frontend's view of one worker whose request plane is reached through {@code port}. */
    private Worker join(LlmEngine e, int port, long stallProbeMs) {
        remote = new RemoteWorkers(workers, Set.of("m"), record -> RemoteEngine.connect(record, runtime, null), 100,
                60_000, 1_000, stallProbeMs);
        remote.onWorkerAdded(new WorkerRecord("w1", WorkerRole.AGGREGATED, "m", "127.0.0.1:" + port,
                e.info().layout(), e.info().totalBlocks(), e.info().maxBatchTokens(), List.of(), "host-a"));
        await().atMost(Duration.ofSeconds(10)).until(() -> workers.all().size() == 1);
        return workers.all().getFirst();
    }

    @Test
    void frozenWorker_stalledStreamFailsOverWithinThreeProbeTimes() throws Exception {
        LlmEngine e = engine(8, 2);
        WorkerRpcServer server = WorkerRpcServer.start("127.0.0.1", 0, e, null, runtime);
        toClose.add(server);
        FreezableRelay relay = new FreezableRelay(server.port());
        toClose.add(relay);
        Worker w = join(e, relay.port(), STALL_PROBE_MS);
        Sink sink = new Sink();
        w.engine().submit(GenerateRequest.greedy("r1", new int[] {1, 2, 3}, 2_000), sink);
        sink.firstToken.get(10, TimeUnit.SECONDS);

        relay.freeze();
        long frozenNs = System.nanoTime();

        TandemException error = sink.error.get(15, TimeUnit.SECONDS);
        long tookMs = (System.nanoTime() - frozenNs) / 1_000_000;
        assertThat(error).isInstanceOf(RequestException.class);
        assertThat(((RequestException) error).kind()).isEqualTo(RequestException.Kind.WORKER_LOST);
        assertThat(tookMs).as("failed over by the stall probe, not the 30 s keepalive or the lease")
                .isLessThan(10_000);
        assertThat(workers.all()).as("the frozen worker left the set").isEmpty();
        assertThat(remote.unreachable()).containsExactly("w1");
    }

    @Test
    void slowButAnsweringWorker_queuedStreamStaysAndFinishes() throws Exception {
        LlmEngine e = engine(1, 0.25); // one sequence at a time: the second request waits without tokens
        WorkerRpcServer server = WorkerRpcServer.start("127.0.0.1", 0, e, null, runtime);
        toClose.add(server);
        Worker w = join(e, server.port(), SLOW_STALL_PROBE_MS);
        Sink first = new Sink();
        w.engine().submit(GenerateRequest.greedy("long", new int[] {1, 2, 3}, 100), first);
        first.firstToken.get(10, TimeUnit.SECONDS);
        Sink queued = new Sink();
        w.engine().submit(GenerateRequest.greedy("queued", new int[] {4, 5, 6}, 4), queued);

        assertThat(queued.finish.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(first.finish.get(30, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(queued.firstTokenDelayMs()).as("the queued stream really stalled past the probe time")
                .isGreaterThan(2 * SLOW_STALL_PROBE_MS);
        assertThat(workers.all()).as("an answering worker stays").hasSize(1);
    }

    static final class Sink implements TokenSink {
        final long createdNs = System.nanoTime();
        volatile long firstTokenNs;
        final AtomicInteger tokens = new AtomicInteger();
        final CompletableFuture<Void> firstToken = new CompletableFuture<>();
        final CompletableFuture<FinishReason> finish = new CompletableFuture<>();
        final CompletableFuture<TandemException> error = new CompletableFuture<>();

        long firstTokenDelayMs() {
            return (firstTokenNs - createdNs) / 1_000_000;
        }

        @Override
        public void onToken(GeneratedToken token) {
            if (tokens.getAndIncrement() == 0) {
                firstTokenNs = System.nanoTime();
            }
            firstToken.complete(null);
        }

        @Override
        public void onFinish(FinishReason reason, Usage usage) {
            finish.complete(reason);
        }

        @Override
        public void onError(TandemException e) {
            error.complete(e);
            finish.completeExceptionally(e);
        }
    }
}
