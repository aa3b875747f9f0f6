package dev.tandem.cli.planner;

/**
 * Where the planner's decisions go: a local cluster's processes ({@link LocalClusterActuator}) or
 * replica counts printed for Kubernetes ({@link ReplicaPrinter}).
 */
public interface PoolActuator {
    /** Workers the pool has now (or is set to have). */
    int size(Pool pool);

    /** Brings the pool to {@code replicas} workers; may block while workers start or drain. */
    void resize(Pool pool, int replicas);
}
