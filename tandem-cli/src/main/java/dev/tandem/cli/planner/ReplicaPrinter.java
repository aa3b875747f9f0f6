package dev.tandem.cli.planner;

import java.io.PrintStream;
import java.util.EnumMap;
import java.util.Map;

/**
 * Prints each decision as the Deployments' replica counts, as {@code kubectl scale} commands for
 * the manifests in deploy/kubernetes (Deployments {@code tandem-prefill} and {@code tandem-decode}).
 * Sizes start from what the frontend lists and then follow the planner's own decisions.
 */
public final class ReplicaPrinter implements PoolActuator {
    private final PrintStream out;
    private final String namespace;
    private final Map<Pool, Integer> sizes = new EnumMap<>(Pool.class);

    public ReplicaPrinter(PrintStream out, String namespace, int prefill, int decode) {
        this.out = out;
        this.namespace = namespace;
        sizes.put(Pool.PREFILL, prefill);
        sizes.put(Pool.DECODE, decode);
    }

    @Override
    public int size(Pool pool) {
        return sizes.get(pool);
    }

    @Override
    public void resize(Pool pool, int replicas) {
        sizes.put(pool, replicas);
        out.printf("kubectl -n %s scale deployment/tandem-%s --replicas=%d%n", namespace, pool.role(), replicas);
        out.flush();
    }
}
