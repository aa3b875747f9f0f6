package dev.tandem.runtime.metrics;

import dev.tandem.core.TransferKind;
import dev.tandem.runtime.transfer.TransferFailure;
import dev.tandem.runtime.transfer.TransferMetrics;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;

/**
 * Counters of disaggregated serving, kept by whoever takes part: the frontend (its routing
 * decisions, prefill calls that failed, migrations), prefill workers (prompts prefilled for
 * peers, pins released) and decode workers (imports, fallbacks to local prefill). In one JVM
 * ({@code tandem serve}) all of them share one instance; across processes each keeps its own and
 * exports it on its own {@code /metrics}.
 *
 * <pre>
 * tandem_disagg_requests_total{path,reason}      frontend: remote prefill or local, and why local
 * tandem_disagg_fallbacks_total{reason}          a planned remote prefill that ended in a local one (or a 503)
 * tandem_disagg_prefills_served_total            prefill worker: prompts prefilled and pinned for a peer
 * tandem_disagg_pins_released_total              prefill worker: pins released by their decode worker
 * tandem_disagg_pins_active                      prefill worker: pins held now (released or expired ones are gone)
 * tandem_disagg_imports_total                    decode worker: prompts continued from pulled blocks
 * tandem_disagg_import_seconds_total             decode worker: reserve + pull + start, summed (pull alone below)
 * tandem_disagg_imported_tokens_total            decode worker: prompt tokens pulled instead of computed
 * tandem_frontend_migrations_total{outcome}      frontend: streams re-issued after a lost decode worker
 * tandem_disagg_remote_first_tokens_total        frontend: remote-prefill requests whose first token arrived
 * tandem_disagg_remote_ttft_seconds_total        frontend: their launch-to-first-token time, summed
 * tandem_disagg_handoff_seconds_total            frontend: their prefill-answered-to-first-token time, summed
 *                                                (the decode worker's reserve + pull + start + delivery)
 * tandem_disagg_handoff_ttft_share               frontend: histogram of handoff / TTFT per request, [0, 1]
 * tandem_kv_transfer_pulls_total{transport}      successful pulls             (from {@link TransferMetrics})
 * tandem_kv_transfer_failures_total{transport,reason}
 * tandem_kv_transfer_bytes_total{transport} / _blocks_total / _seconds_total
 * tandem_kv_transfer_served_bytes_total{transport} / served_blocks_total
 * </pre>
 *
 * <p>Safe for concurrent use: every counter is a {@link LongAdder}; a scrape reads each
 * counter exactly but not all at one instant.
 */
public final class DisaggMetrics {
    /** Why the frontend chose local prefill (or remote), as the {@code reason} label. */
    public enum Path {
        REMOTE("remote", "remote"),
        SHORT_PROMPT("local", "short_prompt"),
        NO_PREFILL_WORKER("local", "no_prefill_worker"),
        PREFILL_BUSY("local", "prefill_busy"),
        NOT_SPLITTABLE("local", "not_splittable");

        final String path;
        final String reason;

        Path(String path, String reason) {
            this.path = path;
            this.reason = reason;
        }
    }

    private final Map<Path, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> fallbacks = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> migrations = new ConcurrentHashMap<>();
    private final LongAdder prefillsServed = new LongAdder();
    private final LongAdder pinsReleased = new LongAdder();
    private final LongAdder imports = new LongAdder();
    private final LongAdder importNanos = new LongAdder();
    private final LongAdder importedTokens = new LongAdder();
    private final TransferMetrics transfer = new TransferMetrics();
    private final LongAdder remoteFirstTokens = new LongAdder();
    private final LongAdder remoteTtftNanos = new LongAdder();
    private final LongAdder handoffNanos = new LongAdder();
    /** Per request: handoff / launch-to-first-token; buckets in [0, 1]. */
    private final Histogram handoffShare = Histogram.builder().name("tandem_disagg_handoff_ttft_share")
            .help("Per remote-prefill request: share of its time to first token spent between the prefill worker's "
                    + "answer and the first token (the decode worker's reserve, KV pull and start)")
            .classicUpperBounds(0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1).build();

    /** The per-transport transfer counters; pass it as the transfer plane's listener. */
    public TransferMetrics transfer() {
        return transfer;
    }

    public void request(Path path) {
        requests.computeIfAbsent(path, p -> new LongAdder()).increment();
    }

    /** A planned remote prefill ended in a local prefill (or a 503 when enforced); {@code reason} is a label value. */
    public void fallback(String reason) {
        fallbacks.computeIfAbsent(reason, r -> new LongAdder()).increment();
    }

    /** A fallback caused by a failed pull: reason {@code transfer_<failure>}. */
    public void transferFallback(TransferFailure failure) {
        fallback("transfer_" + failure.name().toLowerCase(Locale.ROOT));
    }

    public void migration(String outcome) {
        migrations.computeIfAbsent(outcome, r -> new LongAdder()).increment();
    }

    public void prefillServed() {
        prefillsServed.increment();
    }

    public void pinReleased() {
        pinsReleased.increment();
    }

    /** A decode worker started a request from pulled blocks after {@code nanos} of reserve, pull and start. */
    public void imported(long nanos, int transferredTokens) {
        imports.increment();
        importNanos.add(nanos);
        importedTokens.add(transferredTokens);
    }

    /**
     * A remote-prefill request's first token reached the frontend.
     *
     * @param ttftNanos    from the launch (prefill call) to the first token
     * @param handoffNanos from the prefill worker's answer to the first token
     */
    public void remoteFirstToken(long ttftNanos, long handoffNanos) {
        remoteFirstTokens.increment();
        remoteTtftNanos.add(ttftNanos);
        this.handoffNanos.add(handoffNanos);
        handoffShare.observe(ttftNanos <= 0 ? 0 : Math.min(1.0, (double) handoffNanos / ttftNanos));
    }

    public long remoteFirstTokens() {
        return remoteFirstTokens.sum();
    }

    public double remoteTtftSeconds() {
        return remoteTtftNanos.sum() / 1e9;
    }

    public double handoffSeconds() {
        return handoffNanos.sum() / 1e9;
    }

    public long requests(Path path) {
        LongAdder a = requests.get(path);
        return a == null ? 0 : a.sum();
    }

    public long fallbacks(String reason) {
        LongAdder a = fallbacks.get(reason);
        return a == null ? 0 : a.sum();
    }

    /** Every fallback reason seen so far with its count, sorted by reason. */
    public Map<String, Long> fallbacks() {
        Map<String, Long> out = new TreeMap<>();
        fallbacks.forEach((k, v) -> out.put(k, v.sum()));
        return out;
    }

    public long migrations(String outcome) {
        LongAdder a = migrations.get(outcome);
        return a == null ? 0 : a.sum();
    }

    public long prefillsServed() {
        return prefillsServed.sum();
    }

    public long pinsReleased() {
        return pinsReleased.sum();
    }

    public long imports() {
        return imports.sum();
    }

    public double importSeconds() {
        return importNanos.sum() / 1e9;
    }

    /**
     * Registers every metric of the class notes in {@code registry}, read on each scrape.
     *
     * @param activePins pins held now, or null where no prefill worker lives
     */
    public void register(PrometheusRegistry registry, IntSupplier activePins) {
        CounterWithCallback.builder().name("tandem_disagg_requests_total")
                .help("Requests by prefill path (remote: a prefill worker computes the prompt) and the reason")
                .labelNames("path", "reason")
                .callback(cb -> requests.forEach((p, n) -> cb.call(n.sum(), p.path, p.reason))).register(registry);
        CounterWithCallback.builder().name("tandem_disagg_fallbacks_total")
                .help("Planned remote prefills that ended in a local prefill (or a 503 when enforced), by reason")
                .labelNames("reason")
                .callback(cb -> fallbacks.forEach((r, n) -> cb.call(n.sum(), r))).register(registry);
        CounterWithCallback.builder().name("tandem_frontend_migrations_total")
                .help("Streams re-issued to another decode worker after theirs was lost, by outcome")
                .labelNames("outcome")
                .callback(cb -> migrations.forEach((r, n) -> cb.call(n.sum(), r))).register(registry);
        counter(registry, "tandem_disagg_prefills_served_total", "Prompts prefilled and pinned for a decode worker",
                prefillsServed);
        counter(registry, "tandem_disagg_pins_released_total", "Pins released by their decode worker", pinsReleased);
        counter(registry, "tandem_disagg_imports_total", "Requests a decode worker continued from pulled KV blocks",
                imports);
        counter(registry, "tandem_disagg_imported_tokens_total", "Prompt tokens pulled from prefill workers",
                importedTokens);
        CounterWithCallback.builder().name("tandem_disagg_import_seconds_total")
                .help("Decode-side wall time from reserving blocks to starting the decode (the pull included)")
                .callback(cb -> cb.call(importSeconds())).register(registry);
        counter(registry, "tandem_disagg_remote_first_tokens_total",
                "Remote-prefill requests whose first token reached the frontend", remoteFirstTokens);
        CounterWithCallback.builder().name("tandem_disagg_remote_ttft_seconds_total")
                .help("Remote-prefill requests: launch (prefill call) to first token, summed")
                .callback(cb -> cb.call(remoteTtftSeconds())).register(registry);
        CounterWithCallback.builder().name("tandem_disagg_handoff_seconds_total")
                .help("Remote-prefill requests: prefill worker's answer to first token (decode worker's reserve, "
                        + "KV pull, start), summed")
                .callback(cb -> cb.call(handoffSeconds())).register(registry);
        registry.register(handoffShare);
        if (activePins != null) {
            GaugeWithCallback.builder().name("tandem_disagg_pins_active")
                    .help("Prompt pins a prefill worker holds for decode workers now")
                    .callback(cb -> cb.call(activePins.getAsInt())).register(registry);
        }
        registerTransfer(registry);
    }

    private void registerTransfer(PrometheusRegistry registry) {
        perTransport(registry, "tandem_kv_transfer_pulls_total", "Successful KV pulls", s -> s.pulls());
        perTransport(registry, "tandem_kv_transfer_bytes_total", "KV bytes pulled", s -> s.bytes());
        perTransport(registry, "tandem_kv_transfer_blocks_total", "KV blocks pulled", s -> s.blocks());
        perTransport(registry, "tandem_kv_transfer_seconds_total", "Wall time of successful KV pulls", s -> s.seconds());
        perTransport(registry, "tandem_kv_transfer_served_bytes_total", "KV bytes served to pullers",
                s -> s.servedBytes());
        perTransport(registry, "tandem_kv_transfer_served_blocks_total", "KV blocks served to pullers",
                s -> s.servedBlocks());
        CounterWithCallback.builder().name("tandem_kv_transfer_failures_total")
                .help("Failed KV pulls by transport and reason").labelNames("transport", "reason")
                .callback(cb -> {
                    for (TransferKind k : TransferKind.values()) {
                        if (k.movedByEngines()) {
                            continue; // pulled by no Tandem transport
                        }
                        for (Map.Entry<TransferFailure, Long> f : transfer.snapshot(k).failures().entrySet()) {
                            if (f.getValue() > 0) {
                                cb.call(f.getValue(), k.label(), f.getKey().name().toLowerCase(Locale.ROOT));
                            }
                        }
                    }
                }).register(registry);
    }

    private interface Value {
        double of(TransferMetrics.Snapshot s);
    }

    private void perTransport(PrometheusRegistry registry, String name, String help, Value value) {
        CounterWithCallback.builder().name(name).help(help).labelNames("transport")
                .callback(cb -> {
                    for (TransferKind k : TransferKind.values()) {
                        if (k.movedByEngines()) {
                            continue; // pulled by no Tandem transport
                        }
                        cb.call(value.of(transfer.snapshot(k)), k.label());
                    }
                }).register(registry);
    }

    private static void counter(PrometheusRegistry registry, String name, String help, LongAdder adder) {
        CounterWithCallback.builder().name(name).help(help).callback(cb -> cb.call(adder.sum())).register(registry);
    }
}
