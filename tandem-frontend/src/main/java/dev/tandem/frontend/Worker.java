package dev.tandem.frontend;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.LoadReport;
import dev.tandem.core.WorkerRole;
import java.util.Objects;

/**
 * One worker the frontend can send requests to: an {@link Engine} (in this process, or a remote
 * one behind the request plane) with its identity and role. Safe for concurrent use.
 */
public final class Worker {
    private final String id;
    private final WorkerRole role;
    private final Engine engine;
    private final EngineInfo info;

    public Worker(String id, WorkerRole role, Engine engine) {
        this.id = Objects.requireNonNull(id, "id");
        this.role = Objects.requireNonNull(role, "role");
        this.engine = Objects.requireNonNull(engine, "engine");
        this.info = engine.info();
    }

    public String id() {
        return id;
    }

    public WorkerRole role() {
        return role;
    }

    public Engine engine() {
        return engine;
    }

    public EngineInfo info() {
        return info;
    }

    public String modelName() {
        return info.modelName();
    }

    public int blockSizeTokens() {
        return info.layout().blockSizeTokens();
    }

    /** The engine's current load (cheap). */
    public LoadReport load() {
        return engine.load();
    }

    @Override
    public String toString() {
        return "Worker[" + id + ", " + role + ", " + info.modelName() + "]";
    }
}
