package dev.tandem.frontend;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.TransferKind;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.router.RouterConfig;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.PrefillService;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.worker.PinReleaser;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.function.UnaryOperator;

/**
 * Prefill and decode workers with the real engine on stories260K, wired by hand (rather than by
 * {@link EmbeddedDeployment}) so a test can put a fault between the frontend and a worker: the
 * KV-aware router, the real dispatcher, real transfer planes, real HTTP. Pools live in /dev/shm
 * when the shm transport is chosen.
 */
final class DisaggFixture implements AutoCloseable {
    /** KV blocks per worker (16 tokens each). */
    static final int KV_BLOCKS = 128;

    final LocalModel model = LocalModel.open(Harness.modelPath(), null);
    final DisaggMetrics metrics = new DisaggMetrics();
    final PinReleaser releaser = new PinReleaser(RuntimeConfig.defaults());
    final WorkerSet workers = new WorkerSet();
    final RouterSelector selector = new RouterSelector(RouterConfig.defaults().withBlockSizeTokens(16)
            .withPolicy(RouterConfig.PolicyKind.KV), new Random(7));
    /** Every worker started here, by id (closed ones included). */
    final Map<String, DisaggEngine> engines = new LinkedHashMap<>();
    final HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final Set<TransferKind> transfer;
    private final EngineConfig engineConfig;
    private final List<AutoCloseable> extra = new ArrayList<>();
    private final String poolPrefix = "tandem-kv-test-" + ProcessHandle.current().pid() + "-" + System.nanoTime() + "-";
    FrontendServer server;

    DisaggFixture(Set<TransferKind> transfer, long pinTtlMs) {
        this.transfer = transfer;
        this.engineConfig = EngineConfig.DEFAULT.withKvBlocks(KV_BLOCKS).withMaxSequences(16).withPinTtlMs(pinTtlMs);
        workers.addListener(selector);
    }

    DisaggFixture(Set<TransferKind> transfer) {
        this(transfer, EngineConfig.DEFAULT_PIN_TTL_MS);
    }

    /** Starts a worker; {@code wrap} may put a fault in front of it (identity for none). */
    DisaggEngine worker(String id, WorkerRole role, UnaryOperator<Engine> wrap) {
        Path poolFile = transfer.contains(TransferKind.SHM) ? Path.of("/dev/shm", poolPrefix + id + ".pool") : null;
        DisaggEngine d = DisaggEngine.start(id, model.model().startEngine(engineConfig, 1, poolFile),
                new TransferConfig(transfer, "127.0.0.1", 0, 0, "127.0.0.1", HostIdentity.local()),
                LocalPools.shared(), releaser, metrics, 5_000);
        engines.put(id, d);
        workers.add(new Worker(id, role, wrap.apply(d)));
        return d;
    }

    DisaggEngine worker(String id, WorkerRole role) {
        return worker(id, role, e -> e);
    }

    /** Adds a worker whose engine is not started here (a remote one, say). */
    void worker(String id, WorkerRole role, Engine engine) {
        workers.add(new Worker(id, role, engine));
        extra.add(engine);
    }

    DisaggFixture start(DispatchConfig dispatch) {
        server = FrontendServer.start(FrontendConfig.defaults().withPort(0), List.of(model.served()), workers,
                selector, dispatch, metrics, this::activePins);
        return this;
    }

    int activePins() {
        int n = 0;
        for (DisaggEngine d : engines.values()) {
            n += d.activePins();
        }
        return n;
    }

    /** Blocks in use (running, reserved or pinned) over the given workers. */
    int activeBlocks(String... ids) {
        int n = 0;
        for (String id : ids) {
            n += engines.get(id).engine().load().activeBlocks();
        }
        return n;
    }

    HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create(server.url() + path))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
    }

    JsonNode completion(String body) throws IOException, InterruptedException {
        HttpResponse<String> r = post("/v1/completions", body);
        if (r.statusCode() != 200) {
            throw new AssertionError("status " + r.statusCode() + ": " + r.body());
        }
        return Harness.json(r.body());
    }

    String metricsText() throws IOException, InterruptedException {
        return client.send(HttpRequest.newBuilder(URI.create(server.url() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
        for (AutoCloseable c : extra) {
            try {
                c.close();
            } catch (Exception e) {
                // already closed by the test
            }
        }
        for (DisaggEngine d : engines.values()) {
            d.close();
        }
        releaser.close();
        selector.close();
        model.close();
        client.close();
    }

    /**
     * A worker with its engine behind it unchanged except where a test overrides: the seam where
     * faults go (a prefill that never answers in time, a worker that dies). Forwards both the
     * engine and the prefill sides.
     */
    static class Forwarding implements Engine, PrefillService {
        final DisaggEngine target;

        Forwarding(Engine target) {
            this.target = (DisaggEngine) target;
        }

        @Override
        public EngineInfo info() {
            return target.info();
        }

        @Override
        public RequestHandle submit(GenerateRequest request, TokenSink sink) {
            return target.submit(request, sink);
        }

        @Override
        public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
            return target.prefill(request);
        }

        @Override
        public boolean release(long handleId) {
            return target.release(handleId);
        }

        @Override
        public LoadReport load() {
            return target.load();
        }

        @Override
        public AutoCloseable subscribe(KvEventListener listener) {
            return target.subscribe(listener);
        }

        @Override
        public KvSnapshot kvSnapshot() {
            return target.kvSnapshot();
        }

        @Override
        public void close() {
            // the fixture closes the target
        }
    }
}
