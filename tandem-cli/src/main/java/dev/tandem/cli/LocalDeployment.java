package dev.tandem.cli;

import dev.tandem.core.ConfigException;
import dev.tandem.core.Engine;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.frontend.FrontendServer;
import dev.tandem.frontend.LocalModel;
import dev.tandem.frontend.RoundRobinSelector;
import dev.tandem.frontend.Worker;
import dev.tandem.frontend.WorkerSelector;
import dev.tandem.frontend.WorkerSet;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything {@code tandem serve} runs in one JVM: the model, N workers (engines), the router and
 * the frontend. Closing it stops them in order: the frontend first (in-flight requests finish
 * within its grace period or are cancelled), then every engine, then the model file.
 *
 * <p>Safe for concurrent use; {@link #close()} is idempotent (the shutdown hook and the main
 * thread may both call it).
 */
final class LocalDeployment implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(LocalDeployment.class.getName());

    /** What to start. */
    record Spec(Path modelFile, String servedName, int workers, String router, boolean mock, double mockSpeedup,
                EngineConfig engine, int threadsPerWorker, FrontendConfig frontend, boolean maxRunningDefault) {
        Spec {
            if (workers < 1) {
                throw new ConfigException("--workers must be at least 1, got " + workers);
            }
            if (threadsPerWorker < 1) {
                throw new ConfigException("--threads must be at least 1, got " + threadsPerWorker);
            }
        }
    }

    private final LocalModel model;
    private final List<Engine> engines = new ArrayList<>();
    private final FrontendServer frontend;
    private final String routerName;
    private boolean closed;

    private LocalDeployment(Spec spec) {
        WorkerSelector selector = selector(spec.router());
        this.model = LocalModel.open(spec.modelFile(), spec.servedName());
        try {
            WorkerSet workers = new WorkerSet();
            for (int i = 0; i < spec.workers(); i++) {
                Engine e = spec.mock() ? startMock(spec) : model.startEngine(spec.engine(), spec.threadsPerWorker());
                engines.add(e);
                workers.add(new Worker("worker-" + i, WorkerRole.AGGREGATED, e));
            }
            FrontendConfig fc = spec.frontend();
            if (spec.maxRunningDefault()) {
                fc = fc.withAdmission(spec.workers() * spec.engine().maxSequences(), fc.maxQueued());
            }
            this.routerName = spec.router();
            this.frontend = FrontendServer.start(fc, List.of(model.served()), workers, selector);
        } catch (RuntimeException e) {
            closeEngines();
            model.close();
            throw e;
        }
    }

    static LocalDeployment start(Spec spec) {
        return new LocalDeployment(spec);
    }

    private Engine startMock(Spec spec) {
        MockConfig mc = MockConfig.DEFAULT.withModelName(model.name())
                .withVocabSize(model.served().text().vocabSize())
                .withContextLength(model.config().contextLength())
                .withEngine(spec.engine().kvBlocks() > 0 ? spec.engine()
                        : spec.engine().withKvBlocks(MockConfig.DEFAULT_KV_BLOCKS))
                .withTiming(TimingProfile.DYNAMO.withSpeedup(spec.mockSpeedup()));
        return MockEngine.start(mc);
    }

    static WorkerSelector selector(String name) {
        return switch (name) {
            case "round-robin" -> new RoundRobinSelector();
            default -> throw new ConfigException("unknown router '" + name + "' (available: round-robin)");
        };
    }

    String url() {
        return frontend.url();
    }

    int port() {
        return frontend.port();
    }

    String modelName() {
        return model.name();
    }

    String routerName() {
        return routerName;
    }

    int workerCount() {
        return engines.size();
    }

    FrontendServer frontend() {
        return frontend;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        LOG.log(System.Logger.Level.INFO, "shutting down: frontend, then {0} workers", engines.size());
        try {
            frontend.close();
        } finally {
            closeEngines();
            model.close();
        }
    }

    private void closeEngines() {
        for (Engine e : engines) {
            try {
                e.close();
            } catch (RuntimeException ex) {
                LOG.log(System.Logger.Level.WARNING, "closing an engine failed", ex);
            }
        }
    }
}
