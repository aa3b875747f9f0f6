package dev.tandem.worker;

import dev.tandem.core.LoadReport;
import dev.tandem.runtime.registry.EtcdRegistry;
import dev.tandem.runtime.registry.Registry;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.function.Supplier;

/**
 * A worker's own load and registration on its {@code /metrics}, read at scrape time from the
 * engine's {@link LoadReport} (the same report the event plane carries to the router).
 *
 * <pre>
 * tandem_worker_kv_usage                   gauge    active KV blocks / total, [0, 1]
 * tandem_worker_kv_blocks{state}           gauge    total, active, cached
 * tandem_worker_running_sequences          gauge    sequences in the running batch
 * tandem_worker_waiting_sequences          gauge    sequences admitted but not running
 * tandem_worker_queued_prefill_tokens      gauge    prompt tokens still to compute
 * tandem_worker_prompt_tokens_total        counter  prompt tokens seen
 * tandem_worker_cached_prompt_tokens_total counter  of those, served from the prefix cache
 * tandem_worker_lease_losses_total         counter  registry leases found lost and registered again (etcd only)
 * </pre>
 *
 * <p>The role and instance are not labels here: the scrape configuration attaches them as target
 * labels (see deploy/prometheus).
 */
final class WorkerLoadMetrics {
    private WorkerLoadMetrics() {
    }

    static void register(PrometheusRegistry registry, Supplier<LoadReport> load, Registry workerRegistry) {
        GaugeWithCallback.builder().name("tandem_worker_kv_usage")
                .help("Fraction of the worker's KV blocks held by active sequences")
                .callback(cb -> cb.call(load.get().kvUsage())).register(registry);
        GaugeWithCallback.builder().name("tandem_worker_kv_blocks")
                .help("KV blocks of the worker's pool by state").labelNames("state")
                .callback(cb -> {
                    LoadReport r = load.get();
                    cb.call(r.totalBlocks(), "total");
                    cb.call(r.activeBlocks(), "active");
                    cb.call(r.cachedBlocks(), "cached");
                }).register(registry);
        GaugeWithCallback.builder().name("tandem_worker_running_sequences")
                .help("Sequences in the worker's running batch")
                .callback(cb -> cb.call(load.get().runningSequences())).register(registry);
        GaugeWithCallback.builder().name("tandem_worker_waiting_sequences")
                .help("Sequences admitted by the worker but not yet running")
                .callback(cb -> cb.call(load.get().waitingSequences())).register(registry);
        GaugeWithCallback.builder().name("tandem_worker_queued_prefill_tokens")
                .help("Prompt tokens the worker still has to compute")
                .callback(cb -> cb.call(load.get().queuedPrefillTokens())).register(registry);
        CounterWithCallback.builder().name("tandem_worker_prompt_tokens")
                .help("Prompt tokens the worker has seen since it started")
                .callback(cb -> cb.call(load.get().promptTokens())).register(registry);
        CounterWithCallback.builder().name("tandem_worker_cached_prompt_tokens")
                .help("Prompt tokens the worker served from its prefix cache since it started")
                .callback(cb -> cb.call(load.get().cachedPromptTokens())).register(registry);
        if (workerRegistry instanceof EtcdRegistry etcd) {
            CounterWithCallback.builder().name("tandem_worker_lease_losses")
                    .help("Registry leases found lost (expired or revoked) and registered again")
                    .callback(cb -> cb.call(etcd.leaseLosses())).register(registry);
        }
    }
}
