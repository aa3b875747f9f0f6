package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.BlockHasher;
import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvLayout;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestException.Kind;
import dev.tandem.core.SamplingParams;
import dev.tandem.runtime.http.ClosingServer;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

class UpstreamEngineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BLOCK = 4;
    private static final UpstreamEngine.Model MODEL = new UpstreamEngine.Model("tiny",
            new KvLayout(BLOCK, 1, 1, 8, KvDtype.F16), 512, 256, text -> text.chars().map(c -> c + 1000).toArray());
    private static final UpstreamEngine.Limits LIMITS = new UpstreamEngine.Limits(4, 512, 0);
    private static final String FINAL = "{\"tokens\":[],\"stop\":true,\"stop_type\":\"limit\",\"timings\":{\"cache_n\":8}}";

    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void closeAll() throws Exception {
        for (AutoCloseable c : open.reversed()) {
            c.close();
        }
    }

    private <T extends AutoCloseable> T keep(T c) {
        open.add(c);
        return c;
    }

    private UpstreamEngine engine(FakeServer server, UpstreamKind kind) {
        return keep(UpstreamEngine.start(UpstreamConfig.of(server.url(), kind).withTimeouts(1_000, 2_000, 5_000)
                .withPolling(50, 2_000), MODEL, LIMITS, null));
    }

    private static GenerateRequest request(int promptLength, int maxTokens, int topLogprobs) {
        int[] prompt = new int[promptLength];
        for (int i = 0; i < promptLength; i++) {
            prompt[i] = 10 + i;
        }
        return new GenerateRequest("r-" + promptLength, prompt, SamplingParams.GREEDY, maxTokens, null, false,
                topLogprobs);
    }

    private static RecordingSink run(UpstreamEngine engine, GenerateRequest request) throws Exception {
        RecordingSink sink = new RecordingSink();
        engine.submit(request, sink);
        try {
            sink.finished.get(10, TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException e) {
            // the error is in sink.error
        }
        assertThat(sink.violation).isNull();
        assertThat(sink.terminalCalls).isEqualTo(1);
        return sink;
    }

    @Test
    void llamaServer_streamedIds_reachTheSinkWithLogprobsAndTheServersCachedCount() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"tokens\":[7],\"stop\":false,\"completion_probabilities\":[{\"id\":7,\"logprob\":-0.5,"
                        + "\"top_logprobs\":[{\"id\":7,\"logprob\":-0.5},{\"id\":9,\"logprob\":-1.5}]}]}",
                "{\"tokens\":[8,9],\"stop\":false,\"completion_probabilities\":[{\"id\":8,\"logprob\":-0.25,"
                        + "\"top_logprobs\":[{\"id\":8,\"logprob\":-0.25}]},{\"id\":9,\"logprob\":-0.75,\"top_logprobs\":[]}]}",
                FINAL));
        UpstreamEngine engine = engine(server, null);

        RecordingSink sink = run(engine, request(10, 3, 2));

        assertThat(engine.kind()).isEqualTo(UpstreamKind.LLAMA_SERVER);
        assertThat(sink.ids()).containsExactly(7, 8, 9);
        assertThat(sink.tokens.getFirst()).isEqualTo(new GeneratedToken(7, -0.5f, new int[] {7, 9},
                new float[] {-0.5f, -1.5f}));
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.usage.promptTokens()).isEqualTo(10);
        assertThat(sink.usage.cachedPromptTokens()).isEqualTo(8);
        assertThat(sink.usage.completionTokens()).isEqualTo(3);
        JsonNode body = JSON.readTree(server.bodies.getFirst());
        assertThat(body.get("prompt").size()).isEqualTo(10);
        assertThat(body.get("prompt").get(0).asInt()).isEqualTo(10);
        assertThat(body.get("n_predict").asInt()).isEqualTo(3);
        assertThat(body.get("return_tokens").asBoolean()).isTrue();
        assertThat(body.get("n_probs").asInt()).isEqualTo(2);
        assertThat(body.get("temperature").asDouble()).isZero();
        assertThat(body.get("top_k").asInt()).isZero();
        assertThat(body.get("min_p").asDouble()).isZero();
    }

    @Test
    void finishedStreams_leaveTheConnectionForTheNextRequest() throws Exception {
        List<Integer> clientPorts = new CopyOnWriteArrayList<>();
        AtomicInteger answered = new AtomicInteger();
        FakeServer server = keep(new FakeServer());
        server.route("/version", e -> FakeServer.answer(e, 200, "{\"version\":\"0.11.0\"}"))
                .route("/v1/models", e -> FakeServer.answer(e, 200, "{\"data\":[{\"id\":\"m\",\"max_model_len\":256}]}"))
                .route("/v1/completions", e -> {
                    clientPorts.add(e.getRemoteAddress().getPort());
                    e.sendResponseHeaders(200, 0);
                    try (OutputStream out = e.getResponseBody()) {
                        out.write(("data: {\"choices\":[{\"index\":0,\"token_ids\":[7],\"finish_reason\":\"length\"}]}"
                                + "\n\ndata: [DONE]\n\n").getBytes(StandardCharsets.UTF_8));
                    }
                    answered.incrementAndGet();
                });
        UpstreamEngine engine = engine(server, null);

        for (int i = 0; i < 4; i++) {
            assertThat(run(engine, request(5, 4, -1)).reason).isEqualTo(FinishReason.LENGTH);
            int n = i + 1;
            await().atMost(Duration.ofSeconds(10)).until(() -> answered.get() == n);
        }

        // a stream aborted at its last chunk would close its connection: four requests, four connections
        assertThat(clientPorts).hasSize(4);
        assertThat(clientPorts.stream().distinct().count()).isLessThan(3);
    }

    /**
     * A server that closes each connection after its answer without saying so: the next call finds
     * its pooled connection dead before any answer and is sent once more on a new one.
     */
    @Test
    void pooledConnectionClosedByTheServer_theCallIsSentAgainOnANewOne() throws Exception {
        try (ClosingServer server = ClosingServer.start(Map.of("GET /version", "{\"version\":\"0.11.0\"}",
                "GET /v1/models", "{\"data\":[{\"id\":\"m\",\"max_model_len\":256}]}",
                "POST /v1/completions", "data: {\"choices\":[{\"index\":0,\"token_ids\":[7],"
                        + "\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"))) {
            UpstreamEngine engine = keep(UpstreamEngine.start(UpstreamConfig.of(server.url(), null)
                    .withTimeouts(1_000, 2_000, 5_000).withPolling(60_000, 2_000), MODEL, LIMITS, null));

            for (int i = 0; i < 3; i++) {
                RecordingSink sink = run(engine, request(5, 4, -1));
                assertThat(sink.error).as("call %d", i).isNull();
                assertThat(sink.ids()).containsExactly(7);
            }
        }
    }

    /** llama-server closes a connection after each streamed answer: the call says so and pools nothing. */
    @Test
    void llamaServer_streamedCalls_askToCloseTheirConnection() throws Exception {
        List<String> connection = new CopyOnWriteArrayList<>();
        FakeServer server = keep(FakeServer.llamaServer(256));
        server.route("/completion", e -> {
            connection.add(String.valueOf(e.getRequestHeaders().getFirst("Connection")));
            e.sendResponseHeaders(200, 0);
            try (OutputStream out = e.getResponseBody()) {
                out.write(("data: {\"tokens\":[7],\"stop\":false}\n\ndata: " + FINAL + "\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        });
        UpstreamEngine engine = engine(server, null);

        for (int i = 0; i < 2; i++) {
            assertThat(run(engine, request(5, 4, -1)).reason).isEqualTo(FinishReason.LENGTH);
        }

        assertThat(connection).containsExactly("close", "close");
    }

    @Test
    void llamaServer_eosStop_finishesWithStop() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"tokens\":[7],\"stop\":false}", "{\"tokens\":[],\"stop\":true,\"stop_type\":\"eos\"}"));

        RecordingSink sink = run(engine(server, UpstreamKind.LLAMA_SERVER), request(5, 10, -1));

        assertThat(sink.ids()).containsExactly(7);
        assertThat(sink.reason).isEqualTo(FinishReason.STOP);
        assertThat(sink.tokens.getFirst().hasLogprob()).isFalse();
    }

    @Test
    void stopTokenId_endsTheRequestAndClosesTheStream() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        FakeServer server = keep(FakeServer.llamaServer(256).endlessStream("/completion", i -> i == 1 ? 42 : 7,
                closed));
        GenerateRequest r = new GenerateRequest("stop", new int[] {1, 2, 3}, SamplingParams.GREEDY, 100,
                new int[] {42}, false, -1);

        RecordingSink sink = run(engine(server, null), r);

        assertThat(sink.ids()).containsExactly(7, 42);
        assertThat(sink.reason).isEqualTo(FinishReason.STOP);
        assertThat(closed.await(10, TimeUnit.SECONDS)).as("the server saw the stream closed").isTrue();
    }

    @Test
    void cancel_closesTheStreamAndFinishesCancelled() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        FakeServer server = keep(FakeServer.llamaServer(256).endlessStream("/completion", i -> 7, closed));
        RecordingSink sink = new RecordingSink(2);
        var handle = engine(server, null).submit(request(5, 200, -1), sink);
        assertThat(sink.awaitTokens(10_000)).isTrue();

        handle.cancel();

        assertThat(sink.finished.get(5, TimeUnit.SECONDS)).isEqualTo(FinishReason.CANCELLED);
        assertThat(closed.await(10, TimeUnit.SECONDS)).as("the server saw the stream closed").isTrue();
        assertThat(sink.violation).isNull();
    }

    @Test
    void errorAnswers_mapToTandemsKindsWithTheServersMessage() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256));
        UpstreamEngine engine = engine(server, null);
        record Case(int status, String body, Kind kind, String message) {
        }
        List<Case> cases = List.of(
                new Case(400, "{\"error\":{\"code\":400,\"message\":\"Prompt contains invalid tokens\","
                        + "\"type\":\"invalid_request_error\"}}", Kind.INVALID, "Prompt contains invalid tokens"),
                new Case(422, "{\"detail\":\"max_tokens too large\"}", Kind.INVALID, "max_tokens too large"),
                new Case(503, "{\"error\":{\"code\":503,\"message\":\"Loading model\",\"type\":\"unavailable_error\"}}",
                        Kind.UNAVAILABLE, "Loading model"),
                new Case(429, "busy", Kind.UNAVAILABLE, "busy"),
                new Case(500, "<html>oops</html>", Kind.INTERNAL, "<html>oops</html>"));
        for (Case c : cases) {
            server.route("/completion", e -> FakeServer.answer(e, c.status(), c.body()));

            RecordingSink sink = run(engine, request(5, 4, -1));

            assertThat(sink.error).as("status %d", c.status()).isInstanceOf(RequestException.class);
            assertThat(((RequestException) sink.error).kind()).as("status %d", c.status()).isEqualTo(c.kind());
            assertThat(sink.error.getMessage()).contains(String.valueOf(c.status())).contains(c.message());
        }
    }

    @Test
    void errorInsideTheStream_isMappedToo() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"error\":{\"code\":400,\"message\":\"request exceeds the available context size\","
                        + "\"type\":\"exceed_context_size_error\"}}"));

        RecordingSink sink = run(engine(server, null), request(5, 4, -1));

        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.INVALID);
        assertThat(sink.error.getMessage()).contains("exceeds the available context size");
    }

    @Test
    void malformedChunk_failsInternalQuotingIt() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"tokens\":[7],\"stop\":false}", "{not json", FINAL));

        RecordingSink sink = run(engine(server, null), request(5, 4, -1));

        assertThat(sink.ids()).containsExactly(7);
        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.INTERNAL);
        assertThat(sink.error.getMessage()).contains("malformed").contains("{not json");
    }

    @Test
    void nonIntegerTokenId_isMalformed() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"tokens\":[\"seven\"],\"stop\":false}", FINAL));

        RecordingSink sink = run(engine(server, null), request(5, 4, -1));

        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.INTERNAL);
        assertThat(sink.error.getMessage()).contains("malformed");
    }

    @Test
    void streamCutBeforeItsEnd_isWorkerLost() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion", "{\"tokens\":[7],\"stop\":false}"));

        RecordingSink sink = run(engine(server, null), request(5, 4, -1));

        assertThat(sink.ids()).containsExactly(7);
        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.WORKER_LOST);
    }

    @Test
    void serverGone_isWorkerLostAndTheEngineReportsItDown() throws Exception {
        FakeServer server = FakeServer.llamaServer(256);
        UpstreamEngine engine = engine(server, null);
        List<Boolean> liveness = new CopyOnWriteArrayList<>();
        engine.onLiveness(liveness::add);

        server.close();
        RecordingSink sink = run(engine, request(5, 4, -1));

        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.WORKER_LOST);
        await().atMost(Duration.ofSeconds(10)).until(() -> !engine.alive());
        assertThat(liveness).containsExactly(false);
    }

    @Test
    void silentServer_requestDeadline_failsWithTimeout() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        FakeServer server = keep(FakeServer.llamaServer(256).route("/completion", e -> {
            e.sendResponseHeaders(200, 0);
            try {
                release.await(20, TimeUnit.SECONDS);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            e.close();
        }));
        UpstreamEngine engine = keep(UpstreamEngine.start(UpstreamConfig.of(server.url(), null)
                .withTimeouts(1_000, 1_000, 300).withPolling(50, 2_000), MODEL, LIMITS, null));

        RecordingSink sink = run(engine, request(5, 4, -1));
        release.countDown();

        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.TIMEOUT);
        assertThat(sink.error.getMessage()).contains("300 ms");
    }

    @Test
    void jsonSchema_goesToEachServersStructuredOutput_forcedToolCallsAreRefused() throws Exception {
        String schema = "{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"integer\"}}}";
        FakeServer llama = keep(FakeServer.llamaServer(256).stream("/completion", FINAL));
        UpstreamEngine engine = engine(llama, null);
        run(engine, request(10, 3, -1).withConstraint(new OutputConstraint(schema, "", "", 0)));
        assertThat(JSON.readTree(llama.bodies.getFirst()).get("json_schema"))
                .isEqualTo(JSON.readTree(schema));

        RecordingSink refused = new RecordingSink();
        assertThatThrownBy(() -> engine.submit(request(10, 3, -1).withConstraint(
                new OutputConstraint(schema, "<tool_call>", "</tool_call>", 0)), refused))
                .isInstanceOf(RequestException.class).hasMessageContaining("forced tool calls")
                .extracting(e -> ((RequestException) e).kind()).isEqualTo(Kind.INVALID);
        assertThatThrownBy(() -> engine.submit(request(10, 3, -1).withConstraint(
                new OutputConstraint(schema, "", "", 2)), refused))
                .hasMessageContaining("after a migration");

        FakeServer vllm = keep(new FakeServer());
        vllm.route("/version", e -> FakeServer.answer(e, 200, "{\"version\":\"0.11.0\"}"))
                .route("/v1/models", e -> FakeServer.answer(e, 200, "{\"data\":[{\"id\":\"m\",\"max_model_len\":128}]}"))
                .stream("/v1/completions", "{\"choices\":[{\"index\":0,\"text\":\"{\",\"token_ids\":[5],"
                        + "\"finish_reason\":\"stop\"}]}", "[DONE]");
        run(engine(vllm, null), request(9, 2, -1).withConstraint(new OutputConstraint(schema, "", "", 0)));
        assertThat(JSON.readTree(vllm.bodies.getFirst()).get("guided_json")).isEqualTo(JSON.readTree(schema));

        FakeServer generic = keep(new FakeServer());
        generic.route("/v1/models", e -> FakeServer.answer(e, 200, "{\"data\":[{\"id\":\"m\"}]}"));
        UpstreamEngine openai = engine(generic, null);
        assertThatThrownBy(() -> openai.submit(request(5, 2, -1).withConstraint(
                new OutputConstraint(schema, "", "", 0)), new RecordingSink()))
                .hasMessageContaining("no structured output");
    }

    /** The router's view of a server's cache: derived from its slots and context, or as the operator says. */
    @Test
    void capacity_derivedFromSlotsAndContext_orGiven() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256)); // 2 slots of 256 positions
        int block = MODEL.layout().blockSizeTokens();

        assertThat(engine(server, null).info().totalBlocks()).as("2 slots x 256 / block, x 8 host cache")
                .isEqualTo(2 * 256 / block * 8);
        assertThat(keep(UpstreamEngine.start(UpstreamConfig.of(server.url(), null).withPolling(50, 2_000), MODEL,
                new UpstreamEngine.Limits(4, 512, 40), null)).info().totalBlocks()).isEqualTo(40);
    }

    @Test
    void promptBeyondTheServersContext_isInvalidAtSubmit() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(16));
        UpstreamEngine engine = engine(server, null);

        assertThatThrownBy(() -> engine.submit(request(10, 7, -1), new RecordingSink()))
                .isInstanceOf(RequestException.class).hasMessageContaining("upstream context of 16 tokens")
                .extracting(e -> ((RequestException) e).kind()).isEqualTo(Kind.INVALID);
        assertThat(server.bodies).isEmpty();
    }

    @Test
    void vllm_tokenIdsAndCachedTokensFromTheOpenAiStream() throws Exception {
        FakeServer server = keep(new FakeServer());
        server.route("/version", e -> FakeServer.answer(e, 200, "{\"version\":\"0.11.0\"}"))
                .route("/v1/models", e -> FakeServer.answer(e, 200,
                        "{\"data\":[{\"id\":\"org/tiny\",\"max_model_len\":128}]}"))
                .stream("/v1/completions",
                        "{\"choices\":[{\"index\":0,\"text\":\"a\",\"token_ids\":[5],\"finish_reason\":null,"
                                + "\"logprobs\":{\"token_logprobs\":[-0.1]}}]}",
                        "{\"choices\":[{\"index\":0,\"text\":\"b\",\"token_ids\":[6],\"finish_reason\":\"stop\","
                                + "\"logprobs\":{\"token_logprobs\":[-0.2]}}]}",
                        "{\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
                                + "\"prompt_tokens_details\":{\"cached_tokens\":4}}}",
                        "[DONE]");
        UpstreamEngine engine = engine(server, null);

        RecordingSink sink = run(engine, request(9, 5, 0));

        assertThat(engine.kind()).isEqualTo(UpstreamKind.VLLM);
        assertThat(engine.info().contextLength()).isEqualTo(128);
        assertThat(sink.ids()).containsExactly(5, 6);
        assertThat(sink.tokens.get(1).logprob()).isEqualTo(-0.2f);
        assertThat(sink.reason).isEqualTo(FinishReason.STOP);
        assertThat(sink.usage.cachedPromptTokens()).isEqualTo(4);
        JsonNode body = JSON.readTree(server.bodies.getFirst());
        assertThat(body.get("model").asText()).isEqualTo("org/tiny");
        assertThat(body.get("return_token_ids").asBoolean()).isTrue();
        assertThat(body.get("max_tokens").asInt()).isEqualTo(5);
        assertThat(body.get("stream_options").get("include_usage").asBoolean()).isTrue();
    }

    @Test
    void genericOpenAi_textOnlyAnswers_areTokenisedAgain() throws Exception {
        FakeServer server = keep(new FakeServer());
        server.route("/v1/models", e -> FakeServer.answer(e, 200, "{\"data\":[{\"id\":\"m\"}]}"))
                .stream("/v1/completions",
                        "{\"choices\":[{\"index\":0,\"text\":\"hi\",\"finish_reason\":\"length\"}]}", "[DONE]");
        UpstreamEngine engine = engine(server, null);

        RecordingSink sink = run(engine, request(5, 2, -1));

        assertThat(engine.kind()).isEqualTo(UpstreamKind.OPENAI);
        assertThat(sink.ids()).containsExactly('h' + 1000, 'i' + 1000);
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        JsonNode body = JSON.readTree(server.bodies.getFirst());
        assertThat(body.has("top_k")).as("no extensions for an unknown server").isFalse();
    }

    @Test
    void openAiStreamEndingWithoutFinishReason_isMalformed() throws Exception {
        FakeServer server = keep(new FakeServer());
        server.route("/v1/models", e -> FakeServer.answer(e, 200, "{\"data\":[{\"id\":\"m\"}]}"))
                .stream("/v1/completions", "{\"choices\":[{\"index\":0,\"text\":\"h\"}]}", "[DONE]");

        RecordingSink sink = run(engine(server, null), request(5, 2, -1));

        assertThat(((RequestException) sink.error).kind()).isEqualTo(Kind.INTERNAL);
        assertThat(sink.error.getMessage()).contains("without a finish reason");
    }

    @Test
    void detection_nothingAnswering_isAConfigErrorNamingWhatWasTried() throws Exception {
        FakeServer server = keep(new FakeServer());

        assertThatThrownBy(() -> UpstreamEngine.start(UpstreamConfig.of(server.url(), null).withPolling(50, 300),
                MODEL, LIMITS, null)).isInstanceOf(ConfigException.class).hasMessageContaining(server.url())
                .hasMessageContaining("/props").hasMessageContaining("/v1/models");
        assertThatThrownBy(() -> UpstreamEngine.start(UpstreamConfig.of(server.url(), UpstreamKind.LLAMA_SERVER)
                .withPolling(50, 300), MODEL, LIMITS, null)).isInstanceOf(ConfigException.class)
                .hasMessageContaining("llama-server");
    }

    @Test
    void answers_publishApproximateKvEventsCorrectedByTheServersCount() throws Exception {
        FakeServer server = keep(FakeServer.llamaServer(256).stream("/completion",
                "{\"tokens\":[7,8,9,10],\"stop\":false}",
                "{\"tokens\":[],\"stop\":true,\"stop_type\":\"limit\",\"timings\":{\"cache_n\":0}}"));
        UpstreamEngine engine = engine(server, null);
        List<KvEvent> events = new CopyOnWriteArrayList<>();
        engine.subscribe(events::add);

        run(engine, request(8, 4, -1));

        // submit: the prompt's 2 blocks; answer: the reply's block (prompt 8 + reply 4 = 3 blocks)
        assertThat(events).hasSize(2);
        assertThat(events.get(0)).isInstanceOfSatisfying(KvEvent.Stored.class,
                s -> assertThat(s.sequenceHashes()).hasSize(2));
        assertThat(events.get(1)).isInstanceOfSatisfying(KvEvent.Stored.class, s -> {
            assertThat(s.sequenceHashes()).hasSize(1);
            assertThat(s.hasParent()).isTrue();
        });
        assertThat(engine.kvSnapshot().sequenceHashes()).hasSize(3);
        // the hashes a router computes from the same tokens
        int[] sequence = {10, 11, 12, 13, 14, 15, 16, 17, 7, 8, 9, 10};
        assertThat(engine.kvSnapshot().sequenceHashes())
                .containsExactlyInAnyOrder(BlockHasher.sequenceHashes(sequence, BLOCK));
        assertThat(engine.kvSnapshot().lastEventId()).isEqualTo(1);
        assertThat(engine.load().promptTokens()).isEqualTo(8);
    }
}
