package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RequestException;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.RemoteEngine;
import dev.tandem.runtime.rpc.WorkerRpcServer;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** Stall detection of a remote worker's streams, on a clock the test advances by hand. */
@Timeout(60)
class RemoteWorkerEngineTest {
    private static final long STALL_NS = TimeUnit.SECONDS.toNanos(1);

    @Test
    void abandonStalled_streamSilentForTheStallTime_failsWorkerLostAndOnlyOnce() throws Exception {
        RuntimeConfig runtime = RuntimeConfig.defaults().withRpcTimeouts(30_000, 5_000, 2_000);
        AtomicLong clock = new AtomicLong(1_000_000_000L);
        // a mock slowed 10,000x: a stream stays open for the whole test
        try (LlmEngine engine = MockEngine.start(MockConfig.DEFAULT.withModelName("m")
                     .withEngine(EngineConfig.DEFAULT.withKvBlocks(256))
                     .withTiming(TimingProfile.DYNAMO.withSpeedup(1e-4)));
             WorkerRpcServer server = WorkerRpcServer.start("127.0.0.1", 0, engine, null, runtime);
             RemoteEngine client = RemoteEngine.connect("127.0.0.1:" + server.port(), runtime)) {
            RemoteWorkerEngine remote = new RemoteWorkerEngine(client, engine.info(), () -> { }, clock::get);
            RemoteWorkersTest.Sink sink = new RemoteWorkersTest.Sink();
            remote.submit(GenerateRequest.greedy("slow", new int[] {1, 2, 3}, 50), sink);

            clock.addAndGet(STALL_NS - 1);
            assertThat(remote.longestStallNanos(clock.get())).isEqualTo(STALL_NS - 1);
            assertThat(remote.abandonStalled(STALL_NS, "test")).as("one nanosecond short of a stall").isZero();
            assertThat(sink.error).isNotDone();

            clock.addAndGet(1);
            assertThat(remote.abandonStalled(STALL_NS, "worker w1 is stuck")).isEqualTo(1);
            assertThat(sink.error.get(10, TimeUnit.SECONDS)).isInstanceOfSatisfying(RequestException.class,
                    e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.WORKER_LOST));
            assertThat(remote.abandonStalled(STALL_NS, "again")).as("an abandoned stream is gone").isZero();
        }
    }
}
