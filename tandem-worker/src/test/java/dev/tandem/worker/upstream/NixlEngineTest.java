package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvHandle;
import dev.tandem.core.KvLayout;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.upstream.FakeVllm;
import dev.tandem.worker.PinReleaser;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/**
 * Both legs of vLLM's NIXL disaggregation as Tandem's prefill and decode halves, against two
 * servers written to vLLM's protocol ({@link FakeVllm}) on real sockets.
 */
@Timeout(30)
class NixlEngineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int BLOCK = 4;
    private static final UpstreamEngine.Model MODEL = new UpstreamEngine.Model("tiny",
            new KvLayout(BLOCK, 1, 1, 8, KvDtype.F16), 512, 1024, text -> new int[0]);
    private static final UpstreamEngine.Limits LIMITS = new UpstreamEngine.Limits(4, 512, 0);

    private final List<AutoCloseable> open = new ArrayList<>();
    private final DisaggMetrics metrics = new DisaggMetrics();

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

    private NixlEngine engine(String id, FakeVllm server) {
        UpstreamEngine upstream = UpstreamEngine.start(UpstreamConfig.of(server.url(), null)
                .withTimeouts(1_000, 2_000, 5_000).withPolling(50, 2_000), MODEL, LIMITS, null);
        return keep(NixlEngine.wrap(id, upstream, metrics, NixlEngine.DEFAULT_HANDLE_TTL_MS));
    }

    private static GenerateRequest request(String id, int promptLength, int maxTokens, int topLogprobs) {
        int[] prompt = new int[promptLength];
        for (int i = 0; i < promptLength; i++) {
            prompt[i] = 300 + 7 * i;
        }
        return new GenerateRequest(id, prompt, SamplingParams.GREEDY, maxTokens, null, false, topLogprobs);
    }

    private static RecordingSink decode(NixlEngine d, GenerateRequest request, RemotePrefill prefill)
            throws Exception {
        RecordingSink sink = new RecordingSink();
        d.submit(request.withRemotePrefill(prefill), sink);
        assertThat(sink.awaitDone(10_000)).as("finished").isTrue();
        assertThat(sink.error).as("error").isNull();
        return sink;
    }

    @Test
    void prefillBody_isVllmsPrefillOnlyRequestWithThePromptIds() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        NixlEngine engine = engine("p0", p);

        JsonNode body = engine.prefillBody(request("r1", 6, 40, -1));

        assertThat(body.path("kv_transfer_params").toString()).isEqualTo("{\"do_remote_decode\":true,"
                + "\"do_remote_prefill\":false,\"remote_engine_id\":null,\"remote_block_ids\":null,"
                + "\"remote_host\":null,\"remote_port\":null}");
        assertThat(body.path("stream").asBoolean(true)).isFalse();
        assertThat(body.path("max_tokens").asInt()).isEqualTo(1);
        assertThat(body.has("stream_options")).isFalse();
        assertThat(body.path("return_token_ids").asBoolean()).isTrue();
        assertThat(body.path("model").asText()).isEqualTo(FakeVllm.MODEL);
        assertThat(JSON.convertValue(body.path("prompt"), int[].class)).containsExactly(300, 307, 314, 321, 328, 335);
    }

    @Test
    void prefillThenDecode_decodeServerReadsThePeersBlocks_andTheTextIsTheAggregatedOne() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        FakeVllm d = keep(FakeVllm.start("engine-d", BLOCK).peer(p));
        NixlEngine prefill = engine("p0", p);
        NixlEngine decode = engine("d0", d);
        GenerateRequest request = request("req-7", 10, 6, 0);

        List<KvEvent> prefillEvents = new CopyOnWriteArrayList<>();
        prefill.subscribe(prefillEvents::add);

        PrefillResult result = prefill.prefill(request).get(10, TimeUnit.SECONDS);
        RecordingSink sink = decode(decode, request, new RemotePrefill(result.firstToken(), result.handle(),
                "", false));

        int[] expected = FakeVllm.generate(request.promptTokens(), 6);
        assertThat(result.firstToken().tokenId()).isEqualTo(expected[0]);
        assertThat(result.firstToken().logprob()).as("the prefill's logprob, asked for").isNotZero();
        KvHandle handle = result.handle();
        assertThat(handle.movedByEngines()).isTrue();
        assertThat(handle.endpoints()).containsExactly(new TransferEndpoint(TransferKind.NIXL, "", p.url()));
        assertThat(handle.promptTokens()).isEqualTo(10);
        JsonNode answered = JSON.readTree(handle.transferParams());
        assertThat(answered.path("remote_engine_id").asText()).isEqualTo("engine-p");

        assertThat(sink.ids()).containsExactly(expected);
        assertThat(sink.tokens.getFirst()).isEqualTo(result.firstToken());
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.usage.promptTokens()).isEqualTo(10);
        assertThat(sink.usage.transferredPromptTokens()).as("the decode server's cached_tokens").isEqualTo(10);
        assertThat(sink.usage.completionTokens()).isEqualTo(6);
        JsonNode leg = d.bodies.getFirst();
        assertThat(leg.path("kv_transfer_params")).as("passed exactly").isEqualTo(answered);
        int[] legPrompt = Arrays.copyOf(request.promptTokens(), 11);
        legPrompt[10] = expected[0];
        assertThat(JSON.convertValue(leg.path("prompt"), int[].class)).containsExactly(legPrompt);
        assertThat(leg.path("max_tokens").asInt()).isEqualTo(5);
        assertThat(leg.path("stream").asBoolean()).isTrue();
        assertThat(p.requestIds).containsExactly("req-7");
        assertThat(d.requestIds).containsExactly("req-7");
        assertThat(d.remoteReads.get()).isEqualTo(1);
        assertThat(p.pinnedRequests()).as("read once, freed by the server").isZero();
        assertThat(metrics.prefillsServed()).isEqualTo(1);
        assertThat(prefillEvents).as("the prefill server's cache, announced for the router")
                .anySatisfy(e -> assertThat(e).isInstanceOf(KvEvent.Stored.class));
        assertThat(prefill.kvSnapshot().sequenceHashes()).hasSize(10 / BLOCK);
        assertThat(prefill.load().promptTokens()).isEqualTo(10);
        assertThat(metrics.fallbacks()).isEmpty();
        assertThat(prefill.release(handle.handleId())).as("nothing for Tandem to release").isFalse();
        assertThat(new PinReleaser(RuntimeConfig.defaults()).release(handle, "127.0.0.1:1")).isFalse();
    }

    @Test
    void decode_firstTokenIsTheLastOneAllowed_endsWithoutADecodeLeg() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        FakeVllm d = keep(FakeVllm.start("engine-d", BLOCK).peer(p));
        GenerateRequest request = request("req-1", 5, 1, -1);

        PrefillResult result = engine("p0", p).prefill(request).get(10, TimeUnit.SECONDS);
        RecordingSink sink = decode(engine("d0", d), request, new RemotePrefill(result.firstToken(), result.handle(),
                "", false));

        assertThat(sink.ids()).containsExactly(FakeVllm.generate(request.promptTokens(), 1));
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(d.bodies).isEmpty();
    }

    @Test
    void decode_tandemPoolHandle_prefillsLocallyWithThePlainRequest_andCountsAFallback() throws Exception {
        FakeVllm d = keep(FakeVllm.start("engine-d", BLOCK));
        GenerateRequest request = request("req-2", 8, 4, -1);
        KvHandle tcp = new KvHandle(1, "p0", List.of(new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:9")),
                new int[] {1, 2}, new long[2], 8, MODEL.layout(), System.currentTimeMillis() + 60_000);

        RecordingSink sink = decode(engine("d0", d), request, new RemotePrefill(GeneratedToken.of(301), tcp, "",
                false));

        assertThat(sink.ids()).containsExactly(FakeVllm.generate(request.promptTokens(), 4));
        JsonNode body = d.bodies.getFirst();
        assertThat(body.has("kv_transfer_params")).isFalse();
        assertThat(body.path("prompt").size()).isEqualTo(8);
        assertThat(body.path("max_tokens").asInt()).isEqualTo(4);
        assertThat(metrics.fallbacks("handle_foreign")).isEqualTo(1);
    }

    @Test
    void decode_unusableHandleWhenRemotePrefillIsRequired_failsUnavailable() throws Exception {
        FakeVllm d = keep(FakeVllm.start("engine-d", BLOCK));
        KvHandle expired = new KvHandle(1, "p0", List.of(new TransferEndpoint(TransferKind.NIXL, "", "http://p:1")),
                new int[0], new long[0], 8, MODEL.layout(), 1, "{\"remote_engine_id\":\"engine-p\"}");
        RecordingSink sink = new RecordingSink();

        engine("d0", d).submit(request("req-3", 8, 4, -1).withRemotePrefill(new RemotePrefill(GeneratedToken.of(301),
                expired, "", true)), sink);

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.error).isInstanceOfSatisfying(RequestException.class,
                e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.UNAVAILABLE));
        assertThat(sink.error.getMessage()).contains("expired");
        assertThat(d.bodies).isEmpty();
        assertThat(metrics.fallbacks("transfer_expired")).isEqualTo(1);
    }

    @Test
    void decode_paramsNoPeerHolds_serverFailsTheLeg_sentAgainWithoutThem() throws Exception {
        FakeVllm d = keep(FakeVllm.start("engine-d", BLOCK));
        GenerateRequest request = request("req-4", 8, 5, -1);
        int first = FakeVllm.generate(request.promptTokens(), 1)[0];
        KvHandle stale = new KvHandle(1, "p0", List.of(new TransferEndpoint(TransferKind.NIXL, "", "http://p:1")),
                new int[0], new long[0], 8, MODEL.layout(), System.currentTimeMillis() + 60_000,
                "{\"do_remote_prefill\":true,\"remote_engine_id\":\"engine-gone\",\"remote_request_id\":\"req-4\"}");

        RecordingSink sink = decode(engine("d0", d), request, new RemotePrefill(GeneratedToken.of(first), stale, "",
                false));

        assertThat(sink.ids()).containsExactly(FakeVllm.generate(request.promptTokens(), 5));
        assertThat(d.failedReads.get()).isEqualTo(1);
        assertThat(d.bodies).hasSize(2);
        assertThat(d.bodies.get(1).has("kv_transfer_params")).isFalse();
        assertThat(d.bodies.get(1).path("prompt").size()).as("prompt + the first token, already streamed").isEqualTo(9);
        assertThat(sink.usage.transferredPromptTokens()).isZero();
        assertThat(metrics.fallbacks("transfer_failed")).isEqualTo(1);
    }

    @Test
    void load_prefillLegsInFlight_countAsQueuedPrefill() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        NixlEngine engine = engine("p0", p);
        p.holdPrefills = new CountDownLatch(1);

        CompletableFuture<PrefillResult> f = engine.prefill(request("req-9", 12, 4, -1));

        await().atMost(Duration.ofSeconds(10)).until(() -> engine.load().queuedPrefillTokens() == 12);
        p.holdPrefills.countDown();
        assertThat(f.get(10, TimeUnit.SECONDS).handle().promptTokens()).isEqualTo(12);
        assertThat(engine.load().queuedPrefillTokens()).isZero();
    }

    @Test
    void prefill_serverWithoutTheConnector_failsSoTheDispatcherFallsBack() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        p.answerParams = false;

        assertThatThrownBy(() -> engine("p0", p).prefill(request("req-5", 6, 4, -1)).join())
                .isInstanceOf(CompletionException.class).cause().isInstanceOfSatisfying(RequestException.class,
                        e -> assertThat(e.getMessage()).contains("without kv_transfer_params"));
    }

    @Test
    void prefill_serverGone_failsWorkerLost() throws Exception {
        FakeVllm p = keep(FakeVllm.start("engine-p", BLOCK));
        NixlEngine engine = engine("p0", p);
        p.close();

        assertThatThrownBy(() -> engine.prefill(request("req-6", 6, 4, -1)).join()).cause()
                .isInstanceOfSatisfying(RequestException.class,
                        e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.WORKER_LOST));
    }

    @Test
    void wrap_detectedLlamaServer_refusedWithTheReason_andTheEngineClosed() throws Exception {
        FakeServer llama = keep(FakeServer.llamaServer(256));
        UpstreamEngine upstream = UpstreamEngine.start(UpstreamConfig.of(llama.url(), null)
                .withTimeouts(1_000, 2_000, 5_000).withPolling(50, 2_000), MODEL, LIMITS, null);

        assertThatThrownBy(() -> NixlEngine.wrap("p0", upstream, metrics, NixlEngine.DEFAULT_HANDLE_TTL_MS))
                .isInstanceOf(ConfigException.class).hasMessageContaining("llama-server has no disaggregated");
        assertThatThrownBy(() -> upstream.submit(request("r", 4, 2, -1), new RecordingSink()))
                .isInstanceOf(RequestException.class).hasMessageContaining("closed");
    }

    @Test
    void refusal_serversWithoutVllmsProtocol_saySo() {
        assertThat(NixlEngine.refusal(UpstreamKind.VLLM)).isNull();
        assertThat(NixlEngine.refusal(UpstreamKind.OPENAI)).isNull();
        assertThat(NixlEngine.refusal(null)).as("decided once detected").isNull();
        assertThat(NixlEngine.refusal(UpstreamKind.LLAMA_SERVER)).contains("llama-server has no disaggregated");
        assertThat(NixlEngine.refusal(UpstreamKind.SGLANG)).contains("its own protocol");
    }
}
