package dev.tandem.runtime.registry;

import static dev.tandem.runtime.TestRecords.worker;
import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.WorkerRecord;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class WorkerSetTrackerTest {
    private final List<String> log = new ArrayList<>();
    private final List<String> changes = new ArrayList<>();
    private final Logger julLogger = Logger.getLogger(WorkerSetTracker.class.getName());
    private final Handler capture = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                log.add(java.text.MessageFormat.format(r.getMessage(), r.getParameters()));
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private final WorkerSetTracker.Listener listener = new WorkerSetTracker.Listener() {
        @Override
        public void onWorkerAdded(WorkerRecord w) {
            changes.add("+" + w.instanceId());
        }

        @Override
        public void onWorkerRemoved(WorkerRecord w) {
            changes.add("-" + w.instanceId());
        }
    };

    @BeforeEach
    void captureLog() {
        julLogger.addHandler(capture);
    }

    @AfterEach
    void releaseLog() {
        julLogger.removeHandler(capture);
    }

    private static RegistryEvent added(WorkerRecord w) {
        return new RegistryEvent.Added("k/" + w.instanceId(), w);
    }

    private static RegistryEvent removed(WorkerRecord w) {
        return new RegistryEvent.Removed("k/" + w.instanceId(), w);
    }

    @Test
    void added_blockSizeMismatch_refusedWithClearLogLine() {
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(), listener);
        tracker.onEvent(added(worker("a", "llama", 16)));
        tracker.onEvent(added(worker("b", "llama", 32)));

        assertThat(tracker.workers("llama")).extracting(WorkerRecord::instanceId).containsExactly("a");
        assertThat(tracker.refusedIds()).containsExactly("b");
        assertThat(changes).containsExactly("+a");
        assertThat(log).singleElement().asString()
                .contains("[worker=b] refused", "model llama", "block size 16", "has 32", "workers [a]");
        tracker.checkInvariants();
    }

    @Test
    void added_otherModelWithOtherBlockSize_accepted() {
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(), listener);
        tracker.onEvent(added(worker("a", "llama", 16)));
        tracker.onEvent(added(worker("b", "qwen", 32)));
        assertThat(tracker.workers()).extracting(WorkerRecord::instanceId).containsExactly("a", "b");
        assertThat(log).isEmpty();
    }

    @Test
    void added_configuredBlockSize_overridesFirstComer() {
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of("llama", 32), listener);
        tracker.onEvent(added(worker("a", "llama", 16)));
        tracker.onEvent(added(worker("b", "llama", 32)));
        assertThat(tracker.workers()).extracting(WorkerRecord::instanceId).containsExactly("b");
        assertThat(log).singleElement().asString().contains("[worker=a] refused", "configured");
    }

    @Test
    void refusedWorker_staysOutWhenOthersLeave_untilItRegistersAgain() {
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(), listener);
        WorkerRecord b32 = worker("b", "llama", 32);
        tracker.onEvent(added(worker("a", "llama", 16)));
        tracker.onEvent(added(b32));
        tracker.onEvent(removed(worker("a", "llama", 16)));
        assertThat(tracker.workers()).isEmpty();

        tracker.onEvent(removed(b32));
        assertThat(tracker.refusedIds()).isEmpty();
        tracker.onEvent(added(b32));
        assertThat(tracker.workers()).containsExactly(b32);
        assertThat(changes).containsExactly("+a", "-a", "+b");
    }

    @Test
    void added_replacementWithMismatch_removesOldRecord() {
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(), listener);
        tracker.onEvent(added(worker("a", "llama", 16)));
        tracker.onEvent(added(worker("b", "llama", 16)));
        tracker.onEvent(added(worker("b", "llama", 64)));
        assertThat(tracker.workers()).extracting(WorkerRecord::instanceId).containsExactly("a");
        assertThat(tracker.refusedIds()).containsExactly("b");
        assertThat(changes).containsExactly("+a", "+b", "-b");
        tracker.checkInvariants();
    }

    @Test
    void withEmbeddedRegistry_followsJoinsAndLeaves() throws InterruptedException {
        var store = new EmbeddedRegistryStore(System::nanoTime);
        var config = dev.tandem.runtime.RuntimeConfig.defaults();
        WorkerSetTracker tracker = new WorkerSetTracker(Map.of(), listener);
        EmbeddedRegistry worker = new EmbeddedRegistry(store, config);
        Registration a = worker.register(worker("a"));
        new EmbeddedRegistry(store, config).watchInstances(tracker);
        assertThat(tracker.awaitSynced(2_000)).isTrue();
        assertThat(tracker.worker("a")).isPresent();
        a.close();
        org.awaitility.Awaitility.await().until(() -> tracker.workers().isEmpty());
    }
}
