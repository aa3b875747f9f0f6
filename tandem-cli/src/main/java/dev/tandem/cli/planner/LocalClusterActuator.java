package dev.tandem.cli.planner;

import dev.tandem.cli.cluster.ClusterFile;
import dev.tandem.cli.cluster.LocalCluster;
import dev.tandem.core.ConfigException;
import java.util.EnumMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Resizes the pools of a {@code tandem up} cluster: a new worker is started like the cluster
 * file's first worker group of that role (and joins before this returns); a removed worker is the
 * pool's newest, stopped with SIGTERM, so it leaves the registry first and finishes its running
 * requests (its drain timeout) before it exits.
 */
public final class LocalClusterActuator implements PoolActuator {
    private final LocalCluster cluster;
    private final Map<Pool, ClusterFile.WorkerGroup> templates = new EnumMap<>(Pool.class);
    private final Consumer<String> progress;

    /**
     * @throws ConfigException if the cluster file has no prefill or no decode worker group
     */
    public LocalClusterActuator(LocalCluster cluster, Consumer<String> progress) {
        this.cluster = cluster;
        this.progress = progress;
        for (Pool pool : Pool.values()) {
            ClusterFile.WorkerGroup g = template(cluster.spec(), pool);
            templates.put(pool, new ClusterFile.WorkerGroup(g.role(), 1, g.mock(), g.args(), g.upstream()));
        }
    }

    /**
     * Checks that the cluster file has the worker groups the planner copies.
     *
     * @throws ConfigException if it has no prefill or no decode worker group
     */
    public static void requirePools(ClusterFile spec) {
        for (Pool pool : Pool.values()) {
            template(spec, pool);
        }
    }

    private static ClusterFile.WorkerGroup template(ClusterFile spec, Pool pool) {
        return spec.workers().stream().filter(w -> w.role().equalsIgnoreCase(pool.role())).findFirst()
                .orElseThrow(() -> new ConfigException("the planner sizes prefill and decode pools; the cluster "
                        + "file has no worker group with role " + pool.role()));
    }

    @Override
    public int size(Pool pool) {
        return cluster.workerCount(pool.role());
    }

    @Override
    public void resize(Pool pool, int replicas) {
        int now = size(pool);
        for (; now < replicas; now++) {
            var w = cluster.addWorker(templates.get(pool));
            progress.accept("planner: started " + pool.role() + " worker " + w.name() + " (pid " + w.pid() + ")");
        }
        for (; now > replicas; now--) {
            cluster.removeWorker(pool.role()).ifPresent(w -> progress.accept("planner: drained and stopped "
                    + pool.role() + " worker " + w.name()));
        }
    }
}
