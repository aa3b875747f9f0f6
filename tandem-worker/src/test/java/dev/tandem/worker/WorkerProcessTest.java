package dev.tandem.worker;

import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.events.EmbeddedEventBus;
import dev.tandem.runtime.events.WorkerEventSubscriber;
import dev.tandem.runtime.registry.EmbeddedRegistry;
import dev.tandem.runtime.registry.EmbeddedRegistryStore;
import dev.tandem.runtime.registry.RegistryEvent;
import dev.tandem.runtime.registry.RegistryKeys;
import dev.tandem.runtime.registry.RegistryWatch;
import dev.tandem.runtime.rpc.RemoteEngine;
import dev.tandem.runtime.transfer.HostIdentity;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

@Timeout(120)
class WorkerProcessTest {
    private final RuntimeConfig runtime = RuntimeConfig.defaults().withLoadReportIntervalMs(50)
            .withRpcTimeouts(60_000, 10_000, 10_000);
    private EmbeddedRegistryStore store;
    private EmbeddedRegistry registry;
    private EmbeddedEventBus bus;
    private final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void setUp() {
        store = EmbeddedRegistryStore.started(20);
        registry = new EmbeddedRegistry(store, runtime);
        bus = new EmbeddedEventBus(4096);
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = toClose.size() - 1; i >= 0; i--) {
            toClose.get(i).close();
        }
        bus.close();
        registry.close();
        store.close();
    }

    static Path stories() {
        return Path.of(System.getProperty("tandem.test.models", "../../shared/models")).resolve("stories260K.gguf");
    }

    private WorkerSpec realSpec(String id) {
        return WorkerSpec.defaults(stories()).withInstanceId(id)
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(64), 1);
    }

    private WorkerSpec mockSpec(String id, double speedup) {
        return WorkerSpec.defaults(stories()).withInstanceId(id).withMock(true, speedup)
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(256), 1);
    }

    private WorkerProcess start(WorkerSpec spec) {
        WorkerProcess w = WorkerProcess.start(spec, runtime, registry, bus);
        toClose.add(w);
        return w;
    }

    private RemoteEngine client(WorkerProcess w) {
        RemoteEngine c = RemoteEngine.connect(w.record().rpcAddress(), runtime);
        toClose.add(c);
        return c;
    }

    private Map<String, WorkerRecord> registered() {
        return store.current(RegistryKeys.instancesPrefix(runtime.namespace()));
    }

    @Test
    void start_realEngine_registersARecordThatDescribesTheWorker() {
        WorkerProcess w = start(realSpec("real-1").withRole(WorkerRole.DECODE));

        WorkerRecord r = registered().get("tandem/v1/instances/default/decode/real-1");
        assertThat(r).isNotNull().isEqualTo(w.record());
        assertThat(r.role()).isEqualTo(WorkerRole.DECODE);
        assertThat(r.modelName()).isEqualTo("stories260K");
        assertThat(r.rpcAddress()).isEqualTo("127.0.0.1:" + w.rpcPort());
        assertThat(r.layout().blockSizeTokens()).isEqualTo(16);
        assertThat(r.layout().layerCount()).isEqualTo(5);
        assertThat(r.totalBlocks()).isEqualTo(64);
        assertThat(r.maxBatchTokens()).isEqualTo(EngineConfig.DEFAULT.maxBatchTokens());
        assertThat(r.hostId()).isEqualTo(HostIdentity.local());
        assertThat(r.transferEndpoints()).extracting(e -> e.kind())
                .containsExactly(TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP);
        assertThat(client(w).health().serving()).isTrue();
        assertThat(client(w).info().simulated()).isFalse();
    }

    @Test
    void close_realEngineWithSharedMemoryPool_deregistersAndDeletesThePoolFiles() {
        WorkerProcess w = WorkerProcess.start(realSpec("shm-files"), runtime, registry, bus);
        Path pool = WorkerProcess.SHM_DIR.resolve("tandem-kv-shm-files.pool");
        assertThat(pool).exists();
        assertThat(ShmPoolFiles.lockFile(pool)).exists();
        assertThat(registered()).hasSize(1);

        w.close();

        assertThat(registered()).isEmpty();
        assertThat(pool).doesNotExist();
        assertThat(ShmPoolFiles.lockFile(pool)).doesNotExist();
    }

    @Test
    void generate_overRpcOnRealEngine_streamsTokensAndPublishesKvEventsLoadAndSnapshot() throws Exception {
        List<KvEvent> events = new CopyOnWriteArrayList<>();
        Map<String, LoadReport> loads = new ConcurrentHashMap<>();
        WorkerEventSubscriber sub = new WorkerEventSubscriber(bus, runtime.namespace(), new WorkerEventSubscriber.Listener() {
            @Override
            public void onKvEvents(String workerId, List<KvEvent> batch) {
                if (workerId.equals("events-1")) {
                    events.addAll(batch);
                }
            }

            @Override
            public void onLoad(String workerId, LoadReport report) {
                loads.put(workerId, report);
            }
        });
        toClose.add(sub);
        WorkerProcess w = start(realSpec("events-1"));
        int[] prompt = IntStream.range(0, 40).map(i -> 10 + i).toArray();

        RecordingSink sink = new RecordingSink();
        client(w).submit(GenerateRequest.greedy("r1", prompt, 8), sink);

        assertThat(sink.awaitDone(60_000)).isTrue();
        assertThat(sink.error).isNull();
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.tokenCount()).isEqualTo(8);
        // 40 prompt tokens + 7 fed back = 47 positions: two full blocks of 16 are registered
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(storedHashes(events)).hasSize(2));
        await().atMost(Duration.ofSeconds(10)).untilAsserted(
                () -> assertThat(loads.get("events-1").promptTokens()).isEqualTo(40));
        KvSnapshot snapshot = client(w).kvSnapshot();
        assertThat(snapshot.lastEventId()).isEqualTo(events.getLast().eventId());
        assertThat(java.util.Arrays.stream(snapshot.sequenceHashes()).boxed().toList())
                .containsExactlyInAnyOrderElementsOf(storedHashes(events));
        assertThat(w.publishedKvEvents()).isEqualTo(events.size());
    }

    private static List<Long> storedHashes(List<KvEvent> events) {
        List<Long> out = new ArrayList<>();
        for (KvEvent e : events) {
            if (e instanceof KvEvent.Stored s) {
                for (long h : s.sequenceHashes()) {
                    out.add(h);
                }
            }
        }
        return out;
    }

    @Test
    void close_whileARequestRuns_leavesTheRegistryFirstThenLetsTheRequestFinish() throws Exception {
        List<String> timeline = new CopyOnWriteArrayList<>();
        RegistryWatch watch = registry.watchInstances(e -> {
            if (e instanceof RegistryEvent.Removed) {
                timeline.add("deregistered");
            }
        });
        toClose.add(watch);
        WorkerProcess w = start(mockSpec("drain-1", 1.0));
        RecordingSink sink = new RecordingSink() {
            @Override
            public synchronized void onFinish(FinishReason reason, dev.tandem.core.Usage usage) {
                timeline.add("finished");
                super.onFinish(reason, usage);
            }
        };
        client(w).submit(GenerateRequest.greedy("long", new int[] {1, 2, 3, 4, 5}, 150), sink);
        assertThat(sink.awaitTokens(30_000)).isTrue();

        Thread closer = Thread.ofPlatform().start(w::close);

        assertThat(sink.awaitDone(30_000)).isTrue();
        closer.join(30_000);
        assertThat(sink.error).isNull();
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.tokenCount()).isEqualTo(150);
        assertThat(timeline).containsExactly("deregistered", "finished");
    }

    @Test
    void close_drainTimeoutZero_cancelsTheRunningRequest() throws Exception {
        WorkerProcess w = start(mockSpec("drain-0", 0.05).withDrainTimeoutMs(0));
        RecordingSink sink = new RecordingSink();
        client(w).submit(GenerateRequest.greedy("long", new int[] {1, 2, 3, 4, 5}, 400), sink);
        assertThat(sink.awaitTokens(30_000)).isTrue();

        w.close();

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.tokenCount()).isLessThan(400);
        assertThat(sink.error).isNotNull();
        assertThat(registered()).isEmpty();
    }

    @Test
    void start_rpcPortTaken_failsWithOneClearErrorAndRegistersNothing() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getByName("127.0.0.1"))) {
            WorkerSpec spec = mockSpec("port-taken", 1.0).withRpc("127.0.0.1", taken.getLocalPort(), "127.0.0.1");

            assertThatThrownBy(() -> WorkerProcess.start(spec, runtime, registry, bus))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("cannot listen for RPC on 127.0.0.1:" + taken.getLocalPort());
        }
        assertThat(registered()).isEmpty();
    }

    @Test
    void start_mockEngine_isRegisteredAndSaysItIsSimulated() {
        WorkerProcess w = start(mockSpec("mock-1", 1.0).withTransferKinds(Set.of(TransferKind.TCP)));

        assertThat(client(w).info().simulated()).isTrue();
        assertThat(w.record().transferEndpoints()).isEmpty(); // the mock has no KV memory to serve
        assertThat(Files.exists(WorkerProcess.SHM_DIR.resolve("tandem-kv-mock-1.pool"))).isFalse();
        assertThat(registered().values()).containsExactly(w.record());
    }
}
