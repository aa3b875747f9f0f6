package dev.tandem.runtime.kvevents;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.ProtocolException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;
import io.prometheus.metrics.core.metrics.CounterWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * Subscribes to an external engine's KV event publisher (vLLM or SGLang, ZeroMQ; layout in
 * {@link VllmEventFrame}) and feeds the batches, in sequence order, to a
 * {@link KvEventTranslator}.
 *
 * <pre>
 * Design
 *   expected = the next sequence number wanted; unknown before the first message.
 *
 *   first message, seq s     ask the replay socket for [0, s) (what the publisher still
 *                            buffers), apply it, then s. Nothing was announced yet, so history
 *                            the publisher no longer has is not a loss: those blocks are just
 *                            unknown (their children become orphans until stored again).
 *   seq == expected          apply, expected++
 *   seq >  expected (a gap)  ask the replay socket for [expected, seq) with a deadline and
 *                            apply the answers in order; then apply seq. If the replay cannot
 *                            fill the gap (no replay socket, deadline passed, the publisher's
 *                            buffer no longer reaches back), the translator is told the events
 *                            are lost: it announces Cleared and re-learns from what follows.
 *   seq <  expected          the publisher restarted (its numbering starts again at 0 and its
 *                            cache is empty): lost, then as a first message.
 *
 *   While a replay runs, the worker's announced blocks stay as they were before the gap (at
 *   most replayTimeoutMs behind); afterwards they are either exact again or cleared. The
 *   router never keeps a block the engine may have dropped without saying so.
 *   A message of the wrong shape is counted and dropped; a batch whose payload does not decode
 *   is counted and its events are lost (as above).
 *
 *   A failure of this class's own (a bug) clears and re-learns in the same way; if the thread
 *   itself ends, it clears first.
 *
 * Concurrency
 *   One thread of its own ("kv-events-" + worker id) owns both sockets and the ZeroMQ context;
 *   start() starts it, close() stops it within pollTimeoutMs + replayTimeoutMs and closes the
 *   sockets with linger 0. Every receive has a timeout, so the thread notices close().
 *
 * References
 *   vllm/distributed/kv_events.py (ZmqEventPublisher), examples/online_serving/kv_events_subscriber.py.
 * </pre>
 */
public final class VllmKvEventSubscriber implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(VllmKvEventSubscriber.class.getName());
    /** Engine blocks a worker's translator remembers by default: a few times a large GPU cache. */
    public static final int DEFAULT_MAX_TRACKED_BLOCKS = 1 << 18;
    /** Frames kept of one message; more are read and dropped (the message is malformed anyway). */
    private static final int MAX_FRAMES = 8;
    /**
     * Longest wait for the first answer of one replay attempt before asking again on a new
     * socket, ms: a request sent while a DEALER is still connecting is sometimes lost.
     */
    private static final long REPLAY_ANSWER_MS = 250;
    /**
     * ZMTP handshake deadline of both sockets, ms. A JeroMQ connection to libzmq 4.3 (pyzmq, as
     * vLLM and SGLang use) sometimes stalls in the handshake and would stay silent until the
     * peer's own 30 s timer; with this deadline JeroMQ drops it and reconnects. Measured against
     * pyzmq 24 / libzmq 4.3.4: 1 of 15 SUB connections silent for 6 s without it, none with it
     * (each recovered within 1.2 s).
     */
    private static final int HANDSHAKE_TIMEOUT_MS = 1_000;

    /**
     * Where the engine publishes.
     *
     * @param endpoint        the PUB socket, {@code tcp://HOST:PORT}
     * @param replayEndpoint  the ROUTER socket for replays, {@code tcp://HOST:PORT}; null: none
     *                        (every gap then clears the worker's announced blocks)
     * @param topic           the publisher's topic (vLLM's default is empty)
     * @param pollTimeoutMs   longest single receive, ms, [1, 10000]; bounds how late close() is noticed
     * @param replayTimeoutMs deadline of one replay, ms, [1, 600000]
     */
    public record Config(String endpoint, String replayEndpoint, String topic, long pollTimeoutMs,
                         long replayTimeoutMs) {
        public static final long DEFAULT_POLL_TIMEOUT_MS = 100;
        public static final long DEFAULT_REPLAY_TIMEOUT_MS = 2_000;

        public Config {
            checkEndpoint(endpoint, "KV event endpoint");
            if (replayEndpoint != null) {
                checkEndpoint(replayEndpoint, "KV event replay endpoint");
            }
            if (topic == null) {
                throw new ConfigException("KV event topic must not be null (vLLM's default is empty)");
            }
            if (pollTimeoutMs < 1 || pollTimeoutMs > 10_000) {
                throw new ConfigException("KV event poll timeout must be in [1, 10000] ms, got " + pollTimeoutMs);
            }
            if (replayTimeoutMs < 1 || replayTimeoutMs > 600_000) {
                throw new ConfigException("KV event replay timeout must be in [1, 600000] ms, got " + replayTimeoutMs);
            }
        }

        /** Defaults for everything but the two endpoints. */
        public static Config of(String endpoint, String replayEndpoint) {
            return new Config(endpoint, replayEndpoint, "", DEFAULT_POLL_TIMEOUT_MS, DEFAULT_REPLAY_TIMEOUT_MS);
        }

        private static void checkEndpoint(String endpoint, String what) {
            if (endpoint == null) {
                throw new ConfigException(what + " is missing; expected tcp://HOST:PORT");
            }
            try {
                URI uri = new URI(endpoint);
                if (!"tcp".equals(uri.getScheme()) || uri.getHost() == null || uri.getPort() <= 0
                        || uri.getPort() > 65_535 || (uri.getPath() != null && !uri.getPath().isEmpty())) {
                    throw new ConfigException(what + " '" + endpoint + "' must be tcp://HOST:PORT");
                }
            } catch (URISyntaxException e) {
                throw new ConfigException(what + " '" + endpoint + "' must be tcp://HOST:PORT: " + e.getMessage(), e);
            }
        }
    }

    private final String workerId;
    private final Config config;
    private final KvEventTranslator translator;
    private final Thread thread;
    /** Why volatile: close() on any thread stops the subscriber's thread. */
    private volatile boolean running = true;

    private long expected = -1;    // owned by the subscriber's thread; -1 before the first message

    private final LongAdder messages = new LongAdder();
    private final LongAdder batchesApplied = new LongAdder();
    private final LongAdder malformedMessages = new LongAdder();
    private final LongAdder undecodableBatches = new LongAdder();
    private final LongAdder gaps = new LongAdder();
    private final LongAdder replays = new LongAdder();
    private final LongAdder replaysIncomplete = new LongAdder();
    private final LongAdder restarts = new LongAdder();

    public VllmKvEventSubscriber(String workerId, Config config, KvEventTranslator translator) {
        this.workerId = workerId;
        this.config = config;
        this.translator = translator;
        this.thread = Thread.ofPlatform().daemon().name("kv-events-" + workerId).unstarted(this::run);
    }

    /**
     * Subscribes to an engine's KV events and delivers them to {@code listener} in Tandem's block
     * hashes at the engine's block size, numbered 0, 1, 2, ...; closing the subscriber stops it.
     */
    public static VllmKvEventSubscriber start(String workerId, Config config, int blockSizeTokens,
                                              KvEventListener listener) {
        KvEventTranslator translator = new KvEventTranslator(workerId, blockSizeTokens, DEFAULT_MAX_TRACKED_BLOCKS);
        translator.subscribe(listener);
        return new VllmKvEventSubscriber(workerId, config, translator).start();
    }

    public KvEventTranslator translator() {
        return translator;
    }

    public VllmKvEventSubscriber start() {
        thread.start();
        return this;
    }

    private void run() {
        try (ZContext context = new ZContext()) {
            context.setLinger(0);
            ZMQ.Socket sub = context.createSocket(SocketType.SUB);
            sub.setLinger(0);
            sub.setHandshakeIvl(HANDSHAKE_TIMEOUT_MS);
            sub.setReceiveTimeOut((int) config.pollTimeoutMs());
            sub.subscribe(config.topic().getBytes(StandardCharsets.UTF_8));
            sub.connect(config.endpoint());
            LOG.log(System.Logger.Level.INFO, "[worker={0}] subscribed to KV events at {1}{2}", workerId,
                    config.endpoint(), config.replayEndpoint() == null ? " (no replay socket)"
                            : ", replays from " + config.replayEndpoint());
            while (running) {
                List<byte[]> message = receive(sub);
                if (message == null) {
                    continue;
                }
                try {
                    onMessage(context, message);
                } catch (RuntimeException e) {
                    // a bug, not the engine's input: start over rather than keep blocks that may be wrong
                    LOG.log(System.Logger.Level.ERROR, "[worker=" + workerId + "] KV event message failed; clearing "
                            + "this worker's announced blocks and re-learning", e);
                    translator.lost();
                    expected = -1;
                }
            }
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.ERROR, "[worker=" + workerId + "] KV event subscriber stopped; clearing this "
                    + "worker's announced blocks", e);
            translator.lost();
        }
    }

    /** One multipart message, or null when none arrived within the socket's receive timeout. */
    private List<byte[]> receive(ZMQ.Socket socket) {
        byte[] first = socket.recv(0);
        if (first == null) {
            return null;
        }
        List<byte[]> frames = new ArrayList<>(VllmEventFrame.FRAMES);
        frames.add(first);
        while (socket.hasReceiveMore()) {
            byte[] next = socket.recv(0);
            if (next == null) {
                break;
            }
            if (frames.size() < MAX_FRAMES) {
                frames.add(next);
            }
        }
        return frames;
    }

    private void onMessage(ZContext context, List<byte[]> message) {
        messages.increment();
        if (message.size() != VllmEventFrame.FRAMES
                || message.get(VllmEventFrame.SEQ_FRAME).length != VllmEventFrame.SEQ_BYTES) {
            malformed("a message of " + message.size() + " frames");
            return;
        }
        long seq = VllmEventFrame.seq(message.get(VllmEventFrame.SEQ_FRAME));
        if (seq < 0) {
            malformed("sequence number " + seq);
            return;
        }
        if (expected >= 0 && seq < expected) {
            restarts.increment();
            LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event publisher restarted (sequence {1} after {2}); "
                    + "clearing this worker''s announced blocks", workerId, seq, expected - 1);
            translator.lost();
            expected = -1;
        }
        if (expected < 0 ? seq > 0 : seq > expected) {
            boolean joining = expected < 0;
            long from = joining ? 0 : expected;
            if (!joining) {
                gaps.increment();
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event gap: expected {1}, got {2}; replaying",
                        workerId, from, seq);
            }
            replay(context, from, seq, !joining);
        }
        apply(seq, message.get(VllmEventFrame.PAYLOAD_FRAME));
    }

    /**
     * Asks the replay socket for batches [from, until) and applies them in order. A part it
     * cannot fill is lost when {@code mustFill} (the worker had announced blocks), and nothing
     * when joining.
     */
    private void replay(ZContext context, long from, long until, boolean mustFill) {
        expected = from;
        boolean lostAlready = false;
        if (config.replayEndpoint() != null) {
            replays.increment();
            long deadlineNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.replayTimeoutMs());
            ReplayOutcome outcome = ReplayOutcome.UNANSWERED;
            while (outcome == ReplayOutcome.UNANSWERED && running && System.nanoTime() < deadlineNs) {
                // A fresh socket per attempt, so a late answer to an earlier attempt cannot mix in.
                ZMQ.Socket dealer = context.createSocket(SocketType.DEALER);
                try {
                    outcome = runReplay(dealer, until, mustFill, deadlineNs);
                } finally {
                    context.destroySocket(dealer);
                }
                lostAlready |= outcome == ReplayOutcome.ENDED_AFTER_LOSS || outcome == ReplayOutcome.TIMED_OUT_AFTER_LOSS;
            }
            if (!running) {
                return;   // closing: what the replay did not apply no longer matters
            }
            if (outcome == ReplayOutcome.UNANSWERED || outcome == ReplayOutcome.TIMED_OUT
                    || outcome == ReplayOutcome.TIMED_OUT_AFTER_LOSS) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event replay from {1} did not end within {2} ms",
                        workerId, from, config.replayTimeoutMs());
            }
        }
        if (expected < until) {
            if (config.replayEndpoint() != null) {
                replaysIncomplete.increment();
            }
            if (mustFill && !lostAlready) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV events {1}..{2} are lost; clearing this "
                        + "worker''s announced blocks and re-learning", workerId, expected, until - 1);
                translator.lost();
            }
        }
    }

    /** How one replay attempt ended. */
    private enum ReplayOutcome {
        /** no answer within REPLAY_ANSWER_MS: ask again (a request can be lost while connecting) */
        UNANSWERED,
        /** the end marker arrived */
        ENDED,
        /** the end marker arrived after a hole the translator was told about */
        ENDED_AFTER_LOSS,
        /** answers began but the deadline passed before the end marker */
        TIMED_OUT,
        TIMED_OUT_AFTER_LOSS
    }

    private ReplayOutcome runReplay(ZMQ.Socket dealer, long until, boolean mustFill, long deadlineNs) {
        dealer.setLinger(0);
        dealer.setHandshakeIvl(HANDSHAKE_TIMEOUT_MS);
        dealer.setSendTimeOut((int) config.replayTimeoutMs());
        dealer.connect(config.replayEndpoint());
        if (!dealer.sendMore(new byte[0]) || !dealer.send(VllmEventFrame.seqFrame(expected))) {
            return ReplayOutcome.UNANSWERED;
        }
        long firstAnswerByNs = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(REPLAY_ANSWER_MS);
        boolean answered = false;
        boolean lost = false;
        while (running) {
            long now = System.nanoTime();
            if (!answered && now >= firstAnswerByNs) {
                return ReplayOutcome.UNANSWERED;
            }
            long remainingMs = TimeUnit.NANOSECONDS.toMillis(deadlineNs - now);
            if (remainingMs <= 0) {
                break;
            }
            dealer.setReceiveTimeOut((int) Math.min(remainingMs, config.pollTimeoutMs()));
            List<byte[]> reply = receive(dealer);
            if (reply == null) {
                continue;
            }
            answered = true;
            if (reply.size() == 3 && reply.getFirst().length == 0) {
                reply = reply.subList(1, 3);   // the ROUTER's empty delimiter
            }
            if (reply.size() != 2 || reply.getFirst().length != VllmEventFrame.SEQ_BYTES) {
                malformed("a replay message of " + reply.size() + " frames");
                continue;
            }
            long seq = VllmEventFrame.seq(reply.getFirst());
            if (seq == VllmEventFrame.END_OF_REPLAY) {
                return lost ? ReplayOutcome.ENDED_AFTER_LOSS : ReplayOutcome.ENDED;
            }
            if (seq < expected || seq >= until) {
                continue;   // applied already, or arrives on the PUB socket
            }
            if (seq > expected && mustFill && !lost) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event replay starts at {1}, not {2}: the "
                        + "publisher no longer buffers the gap; clearing and re-learning", workerId, seq, expected);
                translator.lost();
                lost = true;
            }
            apply(seq, reply.get(1));
        }
        return lost ? ReplayOutcome.TIMED_OUT_AFTER_LOSS : ReplayOutcome.TIMED_OUT;
    }

    private void apply(long seq, byte[] payload) {
        expected = seq + 1;
        VllmEventDecoder.Batch batch;
        try {
            batch = VllmEventDecoder.decode(payload);
        } catch (ProtocolException e) {
            undecodableBatches.increment();
            LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event batch {1} does not decode ({2}); its events "
                    + "are lost: clearing this worker''s announced blocks", workerId, seq, e.getMessage());
            translator.lost();
            return;
        }
        for (EngineKvEvent event : batch.events()) {
            translator.apply(event);
        }
        batchesApplied.increment();
    }

    private void malformed(String what) {
        malformedMessages.increment();
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, "[worker={0}] dropped a malformed KV event message: {1}", workerId, what);
        }
    }

    /** Counters so far. */
    public Stats stats() {
        return new Stats(messages.sum(), batchesApplied.sum(), malformedMessages.sum(), undecodableBatches.sum(),
                gaps.sum(), replays.sum(), replaysIncomplete.sum(), restarts.sum());
    }

    /**
     * @param messages           messages received on the PUB socket
     * @param batchesApplied     batches decoded and applied (from either socket)
     * @param malformedMessages  messages of the wrong shape, dropped
     * @param undecodableBatches batches whose payload did not decode; their events are lost
     * @param gaps               sequence gaps seen
     * @param replays            replays asked for (gaps, and joining a running publisher)
     * @param replaysIncomplete  replays that did not cover what was asked
     * @param restarts           publisher restarts seen (numbering started again)
     */
    public record Stats(long messages, long batchesApplied, long malformedMessages, long undecodableBatches,
                        long gaps, long replays, long replaysIncomplete, long restarts) {
    }

    /**
     * Exports the subscriber's and its translator's counters:
     * <pre>
     * tandem_kv_events_messages_total{outcome}   applied | malformed (dropped) | undecodable (events lost)
     * tandem_kv_events_gaps_total                sequence gaps seen
     * tandem_kv_events_replays_total{outcome}    complete | incomplete
     * tandem_kv_events_restarts_total            publisher restarts seen
     * tandem_kv_events_blocks_total{outcome}     stored | removed | orphan | skipped | block_size_mismatch
     *                                            | unknown_removal
     * </pre>
     */
    public void registerMetrics(PrometheusRegistry registry) {
        CounterWithCallback.builder().name("tandem_kv_events_messages_total")
                .help("KV event messages from the engine's publisher, by outcome").labelNames("outcome")
                .callback(cb -> {
                    Stats s = stats();
                    cb.call(s.batchesApplied(), "applied");
                    cb.call(s.malformedMessages(), "malformed");
                    cb.call(s.undecodableBatches(), "undecodable");
                }).register(registry);
        CounterWithCallback.builder().name("tandem_kv_events_gaps_total")
                .help("Sequence gaps in the engine's KV event stream").callback(cb -> cb.call(gaps.sum()))
                .register(registry);
        CounterWithCallback.builder().name("tandem_kv_events_replays_total")
                .help("Replays asked of the engine's publisher, by outcome").labelNames("outcome")
                .callback(cb -> {
                    cb.call(replays.sum() - replaysIncomplete.sum(), "complete");
                    cb.call(replaysIncomplete.sum(), "incomplete");
                }).register(registry);
        CounterWithCallback.builder().name("tandem_kv_events_restarts_total")
                .help("Restarts of the engine's KV event publisher seen").callback(cb -> cb.call(restarts.sum()))
                .register(registry);
        CounterWithCallback.builder().name("tandem_kv_events_blocks_total")
                .help("Engine blocks in KV events, by what the translation did with them").labelNames("outcome")
                .callback(cb -> {
                    KvEventTranslator.Stats t = translator.stats();
                    cb.call(t.blocksStored(), "stored");
                    cb.call(t.blocksRemoved(), "removed");
                    cb.call(t.orphanBlocks(), "orphan");
                    cb.call(t.skippedBlocks(), "skipped");
                    cb.call(t.blockSizeMismatches(), "block_size_mismatch");
                    cb.call(t.unknownRemovals(), "unknown_removal");
                }).register(registry);
    }

    /** True while the subscriber's thread runs (for tests). */
    boolean isAlive() {
        return thread.isAlive();
    }

    /** Stops the thread (within pollTimeoutMs + replayTimeoutMs) and closes its sockets. Idempotent. */
    @Override
    public void close() {
        running = false;
        if (thread.isAlive() && Thread.currentThread() != thread) {
            try {
                thread.join(config.pollTimeoutMs() + config.replayTimeoutMs() + 1_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (thread.isAlive()) {
                LOG.log(System.Logger.Level.WARNING, "[worker={0}] KV event subscriber did not stop in time", workerId);
            }
        }
    }
}
