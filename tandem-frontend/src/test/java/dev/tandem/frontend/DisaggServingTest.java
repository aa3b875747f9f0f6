package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.Engine;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvHandle;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.Usage;
import dev.tandem.core.WorkerRole;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.rpc.RemoteEngine;
import dev.tandem.worker.DisaggEngine;
import dev.tandem.runtime.metrics.DisaggMetrics;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Disaggregated serving end to end in one JVM: the real engine on stories260K as a prefill
 * worker and one or two decode workers, the KV-aware router and dispatcher, real transfer planes,
 * a client over real HTTP. Faults sit between the frontend and a worker where a process cannot
 * be killed in a unit test (a prefill that answers late, a decode worker whose stream breaks);
 * an unreachable prefill worker is a real request-plane client to a port nobody listens on.
 */
@Timeout(120)
class DisaggServingTest {
    /** About 50 tokens: above the tests' disagg-min-tokens of 16. */
    private static final String STORY = "Once upon a time, there was a little girl named Lily. She loved to play "
            + "outside in the park with her friends. One day, she saw a big red ball under a tree and ran to get it.";
    /** The story plus one more sentence: shares the story's full blocks. */
    private static final String LONGER = STORY + " Her mom said she could keep the ball if she shared it with "
            + "her little brother.";
    private static final String SHORT = "Tom had a dog.";
    private static final int MIN_TOKENS = 16;
    private static final DispatchConfig DISPATCH = DispatchConfig.defaults().withDisagg(MIN_TOKENS, false);

    private static String storyReference;
    private static String longerReference;

    /** What one aggregated worker answers, greedy: disaggregation must not change a token of it. */
    @BeforeAll
    static void aggregatedReference() throws Exception {
        try (Harness h = Harness.stories(1)) {
            storyReference = text(h.postJson("/v1/completions", body(STORY, 16, false)));
            longerReference = text(h.postJson("/v1/completions", body(LONGER, 16, false)));
        }
        assertThat(storyReference).isNotBlank();
    }

    @Test
    void remotePrefill_sharedPrefix_secondRequestPullsOnlyMissingBlocksAndOutputMatchesAggregated() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);

            JsonNode first = f.completion(body(STORY, 16, false));
            long blocksFirst = f.metrics.transfer().snapshot(TransferKind.LOCAL).blocks();
            JsonNode second = f.completion(body(LONGER, 16, false));
            long blocksSecond = f.metrics.transfer().snapshot(TransferKind.LOCAL).blocks() - blocksFirst;

            assertThat(text(first)).isEqualTo(storyReference);
            assertThat(text(second)).isEqualTo(longerReference);
            int prompt1 = promptTokens(first);
            int prompt2 = promptTokens(second);
            // first: nothing cached on the decode worker, every prompt token pulled, none computed there
            assertThat(cached(first)).isZero();
            assertThat(transferred(first)).isEqualTo(prompt1);
            assertThat(blocksFirst).isEqualTo((prompt1 + 15) / 16);
            // second: the story's full blocks are cached on the decode worker; only the rest is pulled
            assertThat(cached(second)).isEqualTo(prompt1 / 16 * 16);
            assertThat(transferred(second)).isEqualTo(prompt2 - cached(second));
            assertThat(blocksSecond).isEqualTo((prompt2 + 15) / 16 - prompt1 / 16).isLessThan((prompt2 + 15) / 16);
            assertThat(f.metrics.requests(DisaggMetrics.Path.REMOTE)).isEqualTo(2);
            assertThat(f.metrics.fallbacks()).isEmpty();
            // the decode worker never computed a prompt token; the prefill worker computed both prompts
            assertThat(f.engines.get("decode-0").load().promptTokens() - f.engines.get("decode-0").load()
                    .cachedPromptTokens()).isEqualTo(transferred(first) + transferred(second));
            // pins released by the decode worker, blocks back
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activePins() == 0
                    && f.activeBlocks("prefill-0", "decode-0") == 0);
            assertThat(f.metrics.pinsReleased()).isEqualTo(2);
            String metrics = f.metricsText();
            assertThat(metrics).contains("tandem_kv_transfer_blocks_total{transport=\"local\"} "
                    + (blocksFirst + blocksSecond) + ".0")
                    .contains("tandem_disagg_remote_first_tokens_total 2.0")
                    .contains("tandem_disagg_handoff_ttft_share_count 2");
        }
    }

    @Test
    void shortPrompt_belowDisaggMinTokens_decodeWorkerPrefillsLocally() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            DisaggEngine p = f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);

            JsonNode r = f.completion(body(SHORT, 4, false));

            assertThat(promptTokens(r)).isLessThan(MIN_TOKENS);
            assertThat(r.get("usage").get("prompt_tokens_details").has("transferred_tokens")).isFalse();
            assertThat(p.load().promptTokens()).isZero();
            assertThat(f.metrics.requests(DisaggMetrics.Path.SHORT_PROMPT)).isEqualTo(1);
            assertThat(f.metrics.requests(DisaggMetrics.Path.REMOTE)).isZero();
        }
    }

    @Test
    void enforceDisagg_noPrefillWorker_returns503NamingTheOption() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH.withDisagg(MIN_TOKENS, true));

            HttpResponse<String> r = f.post("/v1/completions", body(SHORT, 4, false));

            assertThat(r.statusCode()).isEqualTo(503);
            assertThat(Harness.json(r.body()).get("error").get("message").asText()).contains("--enforce-disagg")
                    .contains("no prefill worker");
        }
    }

    @Test
    void prefillWorkerUnreachable_decodeWorkerPrefillsLocally_orEnforced503() throws Exception {
        int deadPort;
        try (ServerSocket s = new ServerSocket(0)) {
            deadPort = s.getLocalPort();
        }
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            DisaggEngine d = f.worker("decode-0", WorkerRole.DECODE);
            RemoteEngine client = RemoteEngine.connect("127.0.0.1:" + deadPort, RuntimeConfig.defaults());
            f.worker("prefill-0", WorkerRole.PREFILL, new RemoteWorkerEngine(client, d.info(), () -> { }));
            f.start(DISPATCH);

            JsonNode r = f.completion(body(STORY, 16, false));

            assertThat(text(r)).isEqualTo(storyReference);
            assertThat(r.get("usage").get("prompt_tokens_details").has("transferred_tokens")).isFalse();
            assertThat(f.metrics.fallbacks("prefill_unreachable")).isEqualTo(1);
        }
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            DisaggEngine d = f.worker("decode-0", WorkerRole.DECODE);
            RemoteEngine client = RemoteEngine.connect("127.0.0.1:" + deadPort, RuntimeConfig.defaults());
            f.worker("prefill-0", WorkerRole.PREFILL, new RemoteWorkerEngine(client, d.info(), () -> { }));
            f.start(DISPATCH.withDisagg(MIN_TOKENS, true));

            HttpResponse<String> r = f.post("/v1/completions", body(STORY, 16, false));

            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(r.body()).contains("remote prefill is enforced");

            // streamed, the failure comes before the first chunk: still a status, not a broken stream
            HttpResponse<String> streamed = f.post("/v1/completions", body(STORY, 16, true));

            assertThat(streamed.statusCode()).as(streamed.body()).isEqualTo(503);
            assertThat(Harness.json(streamed.body()).get("error").get("message").asText())
                    .contains("remote prefill is enforced");
        }
    }

    @Test
    void prefillWorkerSlowPastItsDeadline_decodeWorkerPrefillsLocally_lateHandleReleased() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL, e -> new AnswersLate(e, 600));
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH.withPrefillTimeoutMs(150));

            JsonNode r = f.completion(body(STORY, 16, false));

            assertThat(text(r)).isEqualTo(storyReference);
            assertThat(r.get("usage").get("prompt_tokens_details").has("transferred_tokens")).isFalse();
            assertThat(f.metrics.fallbacks("prefill_timeout")).isEqualTo(1);
            // the prefill was cancelled, or its late handle released: nothing stays pinned
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activePins() == 0
                    && f.activeBlocks("prefill-0", "decode-0") == 0);
        }
    }

    @Test
    void enforceDisagg_prefillPastItsDeadline_503PlainAndStreamed() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL, e -> new AnswersLate(e, 600));
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH.withDisagg(MIN_TOKENS, true).withPrefillTimeoutMs(150));

            HttpResponse<String> r = f.post("/v1/completions", body(STORY, 16, false));
            HttpResponse<String> streamed = f.post("/v1/completions", body(STORY, 16, true));

            assertThat(r.statusCode()).as(r.body()).isEqualTo(503);
            assertThat(Harness.json(r.body()).at("/error/message").asText()).contains("did not answer within 150 ms");
            assertThat(streamed.statusCode()).as(streamed.body()).isEqualTo(503);
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activePins() == 0
                    && f.activeBlocks("prefill-0", "decode-0") == 0);
        }
    }

    /** Disaggregated, the decode worker holds the reply: a follow-up turn finds prompt and reply (whole blocks) there. */
    @Test
    void conversation_followUpTurn_cachedTokensCoverThePreviousPromptAndReply() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);
            // each turn is prefilled on the prefill worker and imported: whole blocks only
            Conversations.check(2, 3, false, body -> {
                HttpResponse<String> r = f.post("/v1/chat/completions", body);
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                return Harness.json(r.body());
            });
        }
    }

    @Test
    void prefillWorkerDiesBeforeThePull_tcp_decodeWorkerPrefillsLocally() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.TCP))) {
            f.worker("prefill-0", WorkerRole.PREFILL, DiesAfterAnswer::new);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);

            JsonNode r = f.completion(body(STORY, 16, false));

            assertThat(text(r)).isEqualTo(storyReference);
            assertThat(r.get("usage").get("prompt_tokens_details").has("transferred_tokens")).isFalse();
            assertThat(f.metrics.fallbacks().keySet()).singleElement().asString().startsWith("transfer_");
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activeBlocks("decode-0") == 0);
        }
    }

    @Test
    void prefillWorkerDiesDuringThePull_tcp_decodeWorkerPrefillsLocally() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.TCP))) {
            f.worker("prefill-0", WorkerRole.PREFILL, DiesMidTransfer::new);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);

            JsonNode r = f.completion(body(STORY, 16, false));

            assertThat(text(r)).isEqualTo(storyReference);
            assertThat(r.get("usage").get("prompt_tokens_details").has("transferred_tokens")).isFalse();
            assertThat(f.metrics.fallbacks()).containsOnlyKeys("transfer_peer_failed");
            assertThat(f.metrics.transfer().snapshot(TransferKind.TCP).pulls()).isZero();
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activeBlocks("decode-0") == 0);
        }
    }

    @Test
    void shmTransport_remotePrefill_outputMatchesAggregated() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.SHM))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE);
            f.start(DISPATCH);

            JsonNode r = f.completion(body(STORY, 16, false));

            assertThat(text(r)).isEqualTo(storyReference);
            assertThat(transferred(r)).isEqualTo(promptTokens(r));
            assertThat(f.metrics.transfer().snapshot(TransferKind.SHM).blocks()).isEqualTo((promptTokens(r) + 15) / 16);
        }
    }

    @Test
    void decodeWorkerLostMidStream_streamMovesToTheOtherDecodeWorkerWithoutRepeatOrGap() throws Exception {
        AtomicInteger deaths = new AtomicInteger(1);
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE, e -> new DiesMidStream(e, deaths, 5));
            f.worker("decode-1", WorkerRole.DECODE, e -> new DiesMidStream(e, deaths, 5));
            f.start(DISPATCH);

            HttpResponse<String> r = f.post("/v1/completions", body(STORY, 16, true));

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(Harness.streamedText(r.body())).isEqualTo(storyReference);
            assertThat(r.body()).endsWith("data: [DONE]\n\n");
            assertThat(f.metrics.migrations("migrated")).isEqualTo(1);
            await().atMost(Duration.ofSeconds(10)).until(() -> f.activePins() == 0
                    && f.activeBlocks("prefill-0", "decode-0", "decode-1") == 0);
        }
    }

    @Test
    void decodeWorkerLost_migrationLimitZero_requestFailsInsteadOfMoving() throws Exception {
        AtomicInteger deaths = new AtomicInteger(1);
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.LOCAL))) {
            f.worker("prefill-0", WorkerRole.PREFILL);
            f.worker("decode-0", WorkerRole.DECODE, e -> new DiesMidStream(e, deaths, 5));
            f.worker("decode-1", WorkerRole.DECODE, e -> new DiesMidStream(e, deaths, 5));
            f.start(DISPATCH.withMigrationLimit(0));

            HttpResponse<String> r = f.post("/v1/completions", body(STORY, 16, true));

            assertThat(Harness.events(r.body())).filteredOn(e -> e.startsWith("{\"error\""))
                    .singleElement().asString().contains("worker lost");
            String streamed = Harness.streamedText(r.body().replaceAll("data: \\{\"error\".*\n\n", ""));
            assertThat(storyReference).startsWith(streamed).isNotEqualTo(streamed);
            assertThat(f.metrics.migrations("limit_reached")).isEqualTo(1);
        }
    }

    /** Clients that vanish at random points (before, during and after the prefill and the pull). */
    @Test
    void disconnectStorm_everyPoolBackToItsFreeCount_noPinLeft() throws Exception {
        try (DisaggFixture f = new DisaggFixture(Set.of(TransferKind.TCP))) {
            f.worker("prefill-0", WorkerRole.PREFILL, e -> new AnswersLate(e, 20));
            f.worker("decode-0", WorkerRole.DECODE);
            f.worker("decode-1", WorkerRole.DECODE);
            f.start(DISPATCH);
            SplittableRandom random = new SplittableRandom(42);
            List<Future<?>> clients = new ArrayList<>();
            try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
                for (int i = 0; i < 24; i++) {
                    long seed = random.nextLong();
                    String prompt = (i % 3 == 0 ? LONGER : STORY) + " Number " + i + ".";
                    clients.add(pool.submit(() -> {
                        disconnectingClient(f.server.port(), prompt, new SplittableRandom(seed));
                        return null;
                    }));
                }
                for (Future<?> c : clients) {
                    c.get(60, TimeUnit.SECONDS);
                }
            }

            await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
                assertThat(f.activePins()).isZero();
                assertThat(f.activeBlocks("prefill-0", "decode-0", "decode-1")).isZero();
            });
            assertThat(f.metrics.requests(DisaggMetrics.Path.REMOTE)).isPositive();
            // and the deployment still serves
            assertThat(text(f.completion(body(STORY, 16, false)))).isEqualTo(storyReference);
        }
    }

    /** Sends a streaming request over a socket and hangs up after a random number of bytes (maybe 0). */
    private static void disconnectingClient(int port, String prompt, SplittableRandom random) throws Exception {
        byte[] request = RawHttp.post("/v1/completions", body(prompt, 64, true));
        try (Socket s = new Socket("127.0.0.1", port)) {
            OutputStream out = s.getOutputStream();
            out.write(request);
            out.flush();
            int mode = random.nextInt(4);
            if (mode == 0) {
                Thread.sleep(random.nextInt(30)); // gone during routing or the prefill
                return;
            }
            InputStream in = s.getInputStream();
            int limit = mode == 1 ? 1 : 200 + random.nextInt(mode == 2 ? 400 : 2000);
            byte[] buf = new byte[64];
            int read = 0;
            while (read < limit) {
                int n = in.read(buf, 0, Math.min(buf.length, limit - read));
                if (n < 0) {
                    return;
                }
                read += n;
            }
        }
    }

    /** A prefill worker that answers {@code delayMs} late (its prefill itself runs as usual). */
    static final class AnswersLate extends DisaggFixture.Forwarding {
        private final long delayMs;

        AnswersLate(Engine target, long delayMs) {
            super(target);
            this.delayMs = delayMs;
        }

        @Override
        public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
            CompletableFuture<PrefillResult> inner = target.prefill(request);
            CompletableFuture<PrefillResult> late = new CompletableFuture<>();
            inner.whenComplete((r, t) -> CompletableFuture.delayedExecutor(delayMs, TimeUnit.MILLISECONDS).execute(() -> {
                boolean taken = t == null ? late.complete(r) : late.completeExceptionally(t);
                if (!taken && r != null) {
                    target.release(r.handle().handleId()); // the caller cancelled: as the request plane does
                }
            }));
            late.whenComplete((r, t) -> {
                if (late.isCancelled()) {
                    inner.cancel(true);
                }
            });
            return late;
        }
    }

    /** A prefill worker that dies right after it answers: its transfer plane and engine are gone. */
    static final class DiesAfterAnswer extends DisaggFixture.Forwarding {
        DiesAfterAnswer(Engine target) {
            super(target);
        }

        @Override
        public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
            CompletableFuture<PrefillResult> answer = new CompletableFuture<>();
            target.prefill(request).whenComplete((r, t) -> Thread.ofVirtual().start(() -> {
                target.close();
                if (t == null) {
                    answer.complete(r);
                } else {
                    answer.completeExceptionally(t);
                }
            }));
            return answer;
        }
    }

    /**
     * A prefill worker that dies in the middle of the decode worker's pull: its handle points at
     * a relay in front of its TCP transfer server that passes the greeting and the first
     * {@value #CUT_AFTER_BYTES} bytes of block data, then cuts both connections and closes the
     * worker (as the kernel does to a killed process's sockets).
     */
    static final class DiesMidTransfer extends DisaggFixture.Forwarding {
        /** HELLO_OK (16-byte header + 24-byte body), a DATA header, then this many bytes of blocks. */
        static final int CUT_AFTER_BYTES = 1_000;
        private final ServerSocket relay;

        DiesMidTransfer(Engine target) {
            super(target);
            try {
                relay = new ServerSocket(0, 8, java.net.InetAddress.getLoopbackAddress());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            String upstream = this.target.endpoints().stream().filter(e -> e.kind() == TransferKind.TCP)
                    .findFirst().orElseThrow().address();
            Thread.ofVirtual().start(() -> relayLoop(upstream));
        }

        @Override
        public CompletableFuture<PrefillResult> prefill(GenerateRequest request) {
            return target.prefill(request).thenApply(r -> {
                KvHandle h = r.handle();
                List<TransferEndpoint> viaRelay = h.endpoints().stream().map(e -> e.kind() != TransferKind.TCP ? e
                        : new TransferEndpoint(e.kind(), e.scopeId(), "127.0.0.1:" + relay.getLocalPort())).toList();
                return new PrefillResult(r.firstToken(), new KvHandle(h.handleId(), h.workerId(), viaRelay,
                        h.blockIds(), h.sequenceHashes(), h.promptTokens(), h.layout(), h.expiresAtEpochMs()),
                        r.usage());
            });
        }

        private void relayLoop(String upstream) {
            String[] hostPort = upstream.split(":");
            while (!relay.isClosed()) {
                try {
                    Socket in = relay.accept();
                    Socket out = new Socket(hostPort[0], Integer.parseInt(hostPort[1]));
                    Thread.ofVirtual().start(() -> pump(in, out, Long.MAX_VALUE));
                    Thread.ofVirtual().start(() -> {
                        pump(out, in, 40 + 16 + CUT_AFTER_BYTES);
                        closeQuietly(in);
                        closeQuietly(out);
                        target.close(); // the worker is gone
                        closeQuietly(relay);
                    });
                } catch (java.io.IOException e) {
                    return;
                }
            }
        }

        private static void pump(Socket from, Socket to, long limitBytes) {
            byte[] buf = new byte[512];
            long sent = 0;
            try {
                InputStream in = from.getInputStream();
                OutputStream out = to.getOutputStream();
                while (sent < limitBytes) {
                    int n = in.read(buf, 0, (int) Math.min(buf.length, limitBytes - sent));
                    if (n < 0) {
                        return;
                    }
                    out.write(buf, 0, n);
                    out.flush();
                    sent += n;
                }
            } catch (java.io.IOException e) {
                // the other direction closed the sockets
            }
        }

        private static void closeQuietly(java.io.Closeable c) {
            try {
                c.close();
            } catch (java.io.IOException e) {
                // closing anyway
            }
        }
    }

    /**
     * A decode worker whose stream breaks after {@code afterTokens} tokens, as a lost worker's
     * does on the request plane (WORKER_LOST), while {@code deaths} (shared) is positive.
     */
    static final class DiesMidStream extends DisaggFixture.Forwarding {
        private final AtomicInteger deaths;
        private final int afterTokens;

        DiesMidStream(Engine target, AtomicInteger deaths, int afterTokens) {
            super(target);
            this.deaths = deaths;
            this.afterTokens = afterTokens;
        }

        @Override
        public RequestHandle submit(GenerateRequest request, TokenSink sink) {
            Breaking breaking = new Breaking(sink);
            RequestHandle h = target.submit(request, breaking);
            breaking.attach(h);
            return h;
        }

        private final class Breaking implements TokenSink {
            private final TokenSink sink;
            private int tokens;
            private boolean dead; // engine-side events come from one thread at a time
            private volatile boolean cancelPending;
            private volatile RequestHandle handle;

            Breaking(TokenSink sink) {
                this.sink = sink;
            }

            void attach(RequestHandle h) {
                handle = h;
                if (cancelPending) {
                    h.cancel();
                }
            }

            @Override
            public void onToken(GeneratedToken token) {
                if (dead) {
                    return;
                }
                if (tokens == afterTokens && deaths.getAndDecrement() > 0) {
                    dead = true;
                    RequestHandle h = handle;
                    if (h != null) {
                        h.cancel();
                    } else {
                        cancelPending = true;
                    }
                    sink.onError(new RequestException(RequestException.Kind.WORKER_LOST, "the decode worker's stream "
                            + "broke (worker lost)"));
                    return;
                }
                tokens++;
                sink.onToken(token);
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                if (!dead) {
                    sink.onFinish(reason, usage);
                }
            }

            @Override
            public void onError(TandemException error) {
                if (!dead) {
                    sink.onError(error);
                }
            }
        }
    }

    private static String body(String prompt, int maxTokens, boolean stream) {
        return "{\"prompt\": \"" + prompt + "\", \"max_tokens\": " + maxTokens + ", \"temperature\": 0, "
                + "\"ignore_eos\": true, \"stream\": " + stream + "}";
    }

    private static String text(JsonNode completion) {
        return completion.get("choices").get(0).get("text").asText();
    }

    private static int promptTokens(JsonNode r) {
        return r.get("usage").get("prompt_tokens").asInt();
    }

    private static int cached(JsonNode r) {
        return r.get("usage").get("prompt_tokens_details").get("cached_tokens").asInt();
    }

    private static int transferred(JsonNode r) {
        JsonNode d = r.get("usage").get("prompt_tokens_details");
        return d.has("transferred_tokens") ? d.get("transferred_tokens").asInt() : 0;
    }
}
