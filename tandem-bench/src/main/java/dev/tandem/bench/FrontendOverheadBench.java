package dev.tandem.bench;

import dev.tandem.core.Engine;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.TimingProfile;
import dev.tandem.engine.tokenizer.ChatMessage;
import dev.tandem.frontend.FrontendConfig;
import dev.tandem.frontend.FrontendServer;
import dev.tandem.frontend.RoundRobinSelector;
import dev.tandem.frontend.ServedModel;
import dev.tandem.frontend.Worker;
import dev.tandem.frontend.WorkerSet;
import dev.tandem.frontend.text.TextModel;
import dev.tandem.frontend.text.TokenText;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The frontend's own cost: the same requests sent to a mock engine directly (in process) and
 * through the frontend over HTTP on loopback, at a given concurrency. The mock's step time is
 * made negligible (speed-up 1e9), so what differs is the frontend: HTTP, JSON, preprocessing,
 * admission, routing, detokenisation and SSE framing. Run by {@code tandem bench frontend}.
 *
 * <p>Figures are wall-clock on whatever else the machine runs; compare the two columns of one
 * run, not runs on different days.
 */
public final class FrontendOverheadBench {
    /** One measured configuration. */
    public record Result(int concurrency, int requests, int tokens, boolean stream, ClientKind client,
                         double directP50Ms, double httpP50Ms, double httpP99Ms, double directRps, double httpRps) {
        /** Added latency per request (p50 difference), ms. */
        public double addedP50Ms() {
            return httpP50Ms - directP50Ms;
        }

        /** Added time per streamed token (p50 difference / tokens), microseconds. */
        public double addedPerTokenUs() {
            return addedP50Ms() * 1000 / tokens;
        }
    }

    private FrontendOverheadBench() {
    }

    /** Which client sends the HTTP requests. */
    public enum ClientKind {
        /** {@link KeepAliveClient}: one keep-alive socket per client, nothing but the exchange itself. */
        SOCKET,
        /** The JDK {@link HttpClient} (HTTP/1.1, keep-alive), as a typical Java caller would use. */
        JDK
    }

    /** Runs one configuration (after a warm-up of the same size). */
    public static Result run(int concurrency, int requests, int tokens, boolean stream, ClientKind client)
            throws Exception {
        try (Engine direct = mock(); Engine behind = mock()) {
            FrontendServer server = frontend(behind, Math.max(concurrency, 1) * 2);
            try (HttpClient jdk = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .executor(Executors.newVirtualThreadPerTaskExecutor()).build()) {
                String body = "{\"prompt\": [1, 2, 3, 4, 5, 6, 7, 8], \"max_tokens\": " + tokens
                        + ", \"ignore_eos\": true, \"temperature\": 0, \"stream\": " + stream + "}";
                HttpRequest http = HttpRequest.newBuilder(URI.create(server.url() + "/v1/completions"))
                        .header("Content-Type", "application/json")
                        .POST(HttpRequest.BodyPublishers.ofString(body)).build();
                byte[] raw = KeepAliveClient.post("127.0.0.1", server.port(), "/v1/completions", body);
                CallFactory viaHttp = switch (client) {
                    case JDK -> worker -> () -> http(jdk, http, stream);
                    case SOCKET -> worker -> {
                        KeepAliveClient c = new KeepAliveClient("127.0.0.1", server.port(), raw, 60_000);
                        return new Call() {
                            @Override
                            public void run() throws Exception {
                                socket(c, stream);
                            }

                            @Override
                            public void close() throws Exception {
                                c.close();
                            }
                        };
                    };
                };
                CallFactory inProcess = worker -> () -> direct(direct, tokens);
                measure(concurrency, requests, inProcess);
                measure(concurrency, requests, viaHttp);
                long[] d = measure(concurrency, requests, inProcess);
                long directWall = d[d.length - 1];
                long[] h = measure(concurrency, requests, viaHttp);
                long httpWall = h[h.length - 1];
                return new Result(concurrency, requests, tokens, stream, client, p(d, 0.5) / 1e6, p(h, 0.5) / 1e6,
                        p(h, 0.99) / 1e6, requests / (directWall / 1e9), requests / (httpWall / 1e9));
            } finally {
                server.close();
            }
        }
    }

    /** Prints a Markdown table row per configuration. */
    public static void print(PrintStream out, List<Result> results) {
        out.println("| client | concurrency | tokens | stream | direct p50 ms | HTTP p50 ms | HTTP p99 ms | added p50 ms"
                + " | added per token us | direct req/s | HTTP req/s |");
        out.println("|---|---|---|---|---|---|---|---|---|---|---|");
        for (Result r : results) {
            out.printf("| %s | %d | %d | %s | %.3f | %.3f | %.3f | %.3f | %.1f | %.0f | %.0f |%n",
                    r.client().name().toLowerCase(java.util.Locale.ROOT), r.concurrency(), r.tokens(), r.stream(),
                    r.directP50Ms(), r.httpP50Ms(), r.httpP99Ms(), r.addedP50Ms(), r.addedPerTokenUs(), r.directRps(),
                    r.httpRps());
        }
    }

    private interface Call extends AutoCloseable {
        void run() throws Exception;

        @Override
        default void close() throws Exception {
        }
    }

    /** Makes the call one simulated client repeats (its own connection, if it has one). */
    private interface CallFactory {
        Call open(int worker) throws Exception;
    }

    /** Latencies of {@code requests} calls at {@code concurrency}, sorted; last element: wall time, ns. */
    private static long[] measure(int concurrency, int requests, CallFactory calls) throws Exception {
        long[] latencies = new long[requests];
        List<Call> opened = new ArrayList<>(concurrency);
        for (int w = 0; w < concurrency; w++) {
            opened.add(calls.open(w));
        }
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<Future<?>> futures = new ArrayList<>();
            int perWorker = requests / concurrency;
            for (int w = 0; w < concurrency; w++) {
                int base = w * perWorker;
                Call call = opened.get(w);
                futures.add(pool.submit(() -> {
                    for (int i = 0; i < perWorker; i++) {
                        long t = System.nanoTime();
                        call.run();
                        latencies[base + i] = System.nanoTime() - t;
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
        }
        long wall = System.nanoTime() - start;
        for (Call c : opened) {
            c.close();
        }
        int n = requests / concurrency * concurrency;
        long[] out = Arrays.copyOf(latencies, n + 1);
        Arrays.sort(out, 0, n);
        out[n] = wall;
        return out;
    }

    /** Quantile {@code q} of the sorted latencies (the last element, the wall time, excluded). */
    private static double p(long[] sortedWithWall, double q) {
        int n = sortedWithWall.length - 1;
        return sortedWithWall[Math.min(n - 1, (int) Math.floor(q * n))];
    }

    private static void direct(Engine engine, int tokens) throws InterruptedException {
        CountDownLatch done = new CountDownLatch(1);
        engine.submit(new GenerateRequest("direct", new int[] {1, 2, 3, 4, 5, 6, 7, 8}, SamplingParams.GREEDY, tokens,
                null, true, -1), new TokenSink() {
                    @Override
                    public void onToken(GeneratedToken token) {
                    }

                    @Override
                    public void onFinish(FinishReason reason, Usage usage) {
                        done.countDown();
                    }

                    @Override
                    public void onError(TandemException error) {
                        done.countDown();
                    }
                });
        done.await();
    }

    private static void http(HttpClient client, HttpRequest request, boolean stream) throws Exception {
        HttpResponse<String> r = client.send(request, HttpResponse.BodyHandlers.ofString());
        check(r.statusCode(), r.body(), stream);
    }

    private static void socket(KeepAliveClient client, boolean stream) throws Exception {
        KeepAliveClient.Answer a = client.exchange();
        check(a.status(), a.text(), stream);
    }

    /** A measured answer must be a complete success, or the figures would time failures. */
    private static void check(int status, String body, boolean stream) {
        if (status != 200 || (stream ? !body.endsWith("data: [DONE]\n\n") : !body.contains("\"usage\""))) {
            throw new IllegalStateException("status " + status + ": " + body);
        }
    }

    /** A frontend on a free loopback port serving model "bench" (byte-level text) from {@code engine}. */
    static FrontendServer frontend(Engine engine, int admissionSlots) {
        WorkerSet workers = new WorkerSet();
        workers.add(new Worker("bench-0", WorkerRole.AGGREGATED, engine));
        return FrontendServer.start(FrontendConfig.defaults().withPort(0).withAdmission(admissionSlots, 100_000),
                List.of(new ServedModel("bench", BYTES)), workers, new RoundRobinSelector());
    }

    /** A mock engine whose step time is negligible. */
    static Engine mock() {
        return MockEngine.start(MockConfig.DEFAULT.withModelName("bench").withVocabSize(BYTES.vocabSize())
                .withContextLength(8192).withTiming(TimingProfile.DYNAMO.withSpeedup(1e9))
                .withEngine(EngineConfig.DEFAULT.withKvBlocks(16_384).withMaxSequences(128)
                        .withMaxBatchTokens(4096)));
    }

    /** Byte-level text: token id b (0..255) is byte b; ids 256+ are control tokens. */
    private static final TextModel BYTES = new TextModel() {
        @Override
        public int[] encodeChat(List<ChatMessage> messages) {
            return encodePrompt(messages.getLast().content());
        }

        @Override
        public int[] encodePrompt(String text) {
            byte[] b = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            int[] ids = new int[b.length];
            for (int i = 0; i < b.length; i++) {
                ids[i] = b[i] & 0xFF;
            }
            return ids;
        }

        @Override
        public byte[] tokenBytes(int tokenId) {
            return tokenId >= 0 && tokenId < 256 ? new byte[] {(byte) tokenId} : new byte[0];
        }

        @Override
        public String tokenText(int tokenId) {
            return TokenText.display(tokenBytes(tokenId));
        }

        @Override
        public int vocabSize() {
            return 258;
        }
    };
}
