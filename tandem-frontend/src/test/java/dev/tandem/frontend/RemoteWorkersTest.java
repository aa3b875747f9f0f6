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
import dev.tandem.runtime.rpc.WorkerRpcServer;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * Remote workers joining and leaving the frontend's worker set, with real request-plane servers
 * on loopback in front of mock engines.
 */
@Timeout(60)
class RemoteWorkersTest {
    private final RuntimeConfig runtime = RuntimeConfig.defaults().withRpcTimeouts(30_000, 5_000, 2_000);
    private final WorkerSet workers = new WorkerSet();
    private final RemoteWorkers remote = new RemoteWorkers(workers, Set.of("m"), runtime, null, 100);
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @AfterEach
    void tearDown() throws Exception {
        remote.close();
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
    }

    private LlmEngine engine(String model, double speedup) {
        LlmEngine e = MockEngine.start(MockConfig.DEFAULT.withModelName(model)
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(256))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(speedup)));
        toClose.add(e);
        return e;
    }

    private WorkerRpcServer serve(LlmEngine engine, int port) {
        WorkerRpcServer s = WorkerRpcServer.start("127.0.0.1", port, engine, null, runtime);
        toClose.add(s);
        return s;
    }

    private static WorkerRecord record(String id, String model, int port, LlmEngine engine) {
        return new WorkerRecord(id, WorkerRole.AGGREGATED, model, "127.0.0.1:" + port, engine.info().layout(),
                engine.info().totalBlocks(), engine.info().maxBatchTokens(), List.of(), "host-a");
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    private List<String> joined() {
        return workers.servingModel("m").stream().map(Worker::id).toList();
    }

    @Test
    void onWorkerAdded_reachableWorker_joinsWithTheInfoItsHealthCallReports() {
        LlmEngine e = engine("m", 10);
        WorkerRpcServer s = serve(e, 0);

        remote.onWorkerAdded(record("w1", "m", s.port(), e));

        await().atMost(Duration.ofSeconds(10)).until(() -> joined().equals(List.of("w1")));
        Worker w = workers.all().getFirst();
        assertThat(w.info()).isEqualTo(e.info());
        assertThat(w.info().simulated()).isTrue();
        assertThat(remote.unreachable()).isEmpty();
    }

    @Test
    void onWorkerAdded_recordBeforeTheServerListens_staysOutUntilItAnswers() throws Exception {
        LlmEngine e = engine("m", 10);
        int port = freePort();

        remote.onWorkerAdded(record("late", "m", port, e));
        await().atMost(Duration.ofSeconds(10)).until(() -> remote.failedProbes("late") > 0);

        assertThat(joined()).isEmpty();
        assertThat(remote.unreachable()).containsExactly("late");
        serve(e, port);
        await().atMost(Duration.ofSeconds(10)).until(() -> joined().equals(List.of("late")));
        assertThat(remote.unreachable()).isEmpty();
    }

    @Test
    void onWorkerAdded_drainingWorker_staysOut() throws Exception {
        LlmEngine e = engine("m", 10);
        WorkerRpcServer s = serve(e, 0);
        s.drain();

        remote.onWorkerAdded(record("draining", "m", s.port(), e));
        await().atMost(Duration.ofSeconds(10)).until(() -> remote.failedProbes("draining") > 0);

        assertThat(joined()).isEmpty();
        assertThat(remote.unreachable()).containsExactly("draining");
    }

    @Test
    void onWorkerAdded_workerOfAnotherModel_isIgnored() throws Exception {
        LlmEngine e = engine("other", 10);
        WorkerRpcServer s = serve(e, 0);

        remote.onWorkerAdded(record("x", "other", s.port(), e)); // ignored on the caller's thread, never probed

        assertThat(workers.all()).isEmpty();
        assertThat(remote.unreachable()).isEmpty();
    }

    @Test
    void generate_connectionLost_leavesAtOnceAndRejoinsWhenTheWorkerAnswersAgain() throws Exception {
        LlmEngine e = engine("m", 10);
        WorkerRpcServer s = serve(e, 0);
        int port = s.port();
        remote.onWorkerAdded(record("w1", "m", port, e));
        await().atMost(Duration.ofSeconds(10)).until(() -> joined().equals(List.of("w1")));
        Worker w = workers.all().getFirst();
        s.close();

        Sink sink = new Sink();
        w.engine().submit(GenerateRequest.greedy("r1", new int[] {1, 2, 3}, 4), sink);

        TandemException error = sink.error.get(10, TimeUnit.SECONDS);
        assertThat(error).isInstanceOf(RequestException.class);
        assertThat(((RequestException) error).kind()).isEqualTo(RequestException.Kind.WORKER_LOST);
        assertThat(joined()).isEmpty();
        assertThat(remote.unreachable()).containsExactly("w1");
        serve(e, port);
        await().atMost(Duration.ofSeconds(10)).until(() -> joined().equals(List.of("w1")));
    }

    @Test
    void onWorkerRemoved_whileAStreamRuns_leavesTheSetButLetsTheStreamFinish() throws Exception {
        LlmEngine e = engine("m", 1);
        WorkerRpcServer s = serve(e, 0);
        WorkerRecord r = record("w1", "m", s.port(), e);
        remote.onWorkerAdded(r);
        await().atMost(Duration.ofSeconds(10)).until(() -> joined().equals(List.of("w1")));
        Sink sink = new Sink();
        workers.all().getFirst().engine().submit(GenerateRequest.greedy("r1", new int[] {1, 2, 3}, 60), sink);
        sink.firstToken.get(10, TimeUnit.SECONDS);

        remote.onWorkerRemoved(r);

        assertThat(workers.all()).isEmpty();
        assertThat(sink.finish.get(20, TimeUnit.SECONDS)).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.tokens).hasSize(60);
    }

    /** Collects one request's output. */
    static final class Sink implements TokenSink {
        final List<GeneratedToken> tokens = java.util.Collections.synchronizedList(new ArrayList<>());
        final CompletableFuture<Void> firstToken = new CompletableFuture<>();
        final CompletableFuture<FinishReason> finish = new CompletableFuture<>();
        final CompletableFuture<TandemException> error = new CompletableFuture<>();

        @Override
        public void onToken(GeneratedToken token) {
            tokens.add(token);
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
