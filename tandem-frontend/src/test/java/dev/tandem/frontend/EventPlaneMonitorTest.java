package dev.tandem.frontend;

import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.router.Router;
import dev.tandem.router.RouterConfig;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** Silence on the event plane makes a worker approximate; its return brings a snapshot. */
@Timeout(30)
class EventPlaneMonitorTest {
    private static final long SILENCE_MS = 2_000;
    private final AtomicLong clockNs = new AtomicLong(1_000_000_000L);
    private final RouterSelector selector = new RouterSelector(RouterConfig.defaults(), new Random(1));
    private final EventPlaneMonitor monitor = new EventPlaneMonitor(selector, null, SILENCE_MS, clockNs::get);
    private final WorkerSet workers = new WorkerSet();
    private final LlmEngine engine = MockEngine.start(MockConfig.DEFAULT.withModelName("m")
            .withEngine(EngineConfig.DEFAULT.withKvBlocks(128)));

    EventPlaneMonitorTest() {
        workers.addListener(selector);
        workers.addListener(monitor);
        workers.add(new Worker("w1", WorkerRole.AGGREGATED, engine));
    }

    @AfterEach
    void tearDown() {
        selector.close();
        engine.close();
    }

    private boolean approximate() {
        Router router = selector.router();
        return router.workers().stream().filter(w -> w.workerId().equals("w1")).findFirst().orElseThrow().approximate();
    }

    private void advanceMs(long ms) {
        clockNs.addAndGet(ms * 1_000_000L);
    }

    @Test
    void check_workerHeardWithinTheThreshold_staysExact() {
        for (int i = 0; i < 10; i++) {
            advanceMs(SILENCE_MS / 2);
            monitor.onLoad("w1", LoadReport.IDLE);
            monitor.check();
        }

        assertThat(monitor.silent("w1")).isFalse();
        assertThat(approximate()).isFalse();
    }

    @Test
    void check_silenceLongerThanTheThreshold_routesTheWorkerApproximately() {
        advanceMs(SILENCE_MS - 1);
        monitor.check();
        assertThat(approximate()).isFalse();

        advanceMs(2);
        monitor.check();

        assertThat(monitor.silent("w1")).isTrue();
        assertThat(approximate()).isTrue();
    }

    @Test
    void onLoad_afterSilence_requestsASnapshotAndIsExactOnceItIsApplied() {
        advanceMs(SILENCE_MS + 1);
        monitor.check();
        assertThat(approximate()).isTrue();
        long requested = selector.router().stats().snapshotsRequested();

        monitor.onLoad("w1", LoadReport.IDLE);

        assertThat(monitor.silent("w1")).isFalse();
        assertThat(selector.router().stats().snapshotsRequested()).isEqualTo(requested + 1);
        // the snapshot is fetched from the worker's engine on another thread
        await().atMost(Duration.ofSeconds(10)).until(() -> !approximate());
    }

    @Test
    void removed_worker_isForgotten() {
        workers.remove("w1");
        advanceMs(SILENCE_MS * 2);

        monitor.check();

        assertThat(monitor.silent("w1")).isFalse();
    }
}
