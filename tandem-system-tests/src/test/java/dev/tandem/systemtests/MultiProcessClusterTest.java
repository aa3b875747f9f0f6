package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.runtime.process.ChildProcess;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A frontend and worker processes (separate JVMs) serving OpenAI requests over real HTTP, finding
 * each other through a real etcd and exchanging KV events and load through a real NATS server.
 * One cluster is shared by the tests, which run in order: each leaves it serving for the next.
 * <p>
 * Workers w0..w2 run the real engine on stories260K; later workers join, die and come back.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
@Timeout(240)
class MultiProcessClusterTest {
    /** Lease TTL of every worker, ms: a dead worker must vanish within it (plus etcd's expiry tick). */
    static final long TTL_MS = 3_000;
    static final List<String> WORKER_ARGS = List.of("--kv-blocks", "256", "--threads", "1", "--lease-ttl-ms",
            Long.toString(TTL_MS), "--drain-timeout-ms", "2000");

    static ClusterFixture cluster;

    @BeforeAll
    @Timeout(300)
    static void startCluster() throws Exception {
        cluster = new ClusterFixture("cluster");
        cluster.startServices(List.of("127.0.0.1"), "127.0.0.1");
        cluster.watchRegistry();
        cluster.startFrontend(List.of("--router", "kv"));
        List<ChildProcess> started = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            started.add(cluster.startWorker("w" + i, WORKER_ARGS));
        }
        cluster.awaitFrontend();
        for (ChildProcess p : started) {
            cluster.awaitWorker(p);
        }
        await().atMost(Duration.ofSeconds(60)).until(() -> cluster.listed().equals(Set.of("w0", "w1", "w2")));
    }

    @AfterAll
    static void stopCluster() {
        if (cluster != null) {
            cluster.close();
        }
    }

    private static String prompt(String topic) {
        // the topic comes first, so that different prompts share no full KV block
        return "The " + topic + " lived in a small house near the big forest. Every day the " + topic
                + " went out to play with friends in the park, and at night it slept in a warm bed.";
    }

    /** Sends the prompts at once; returns the responses in order. */
    private static List<HttpResponse<String>> concurrently(List<String> prompts, int maxTokens) throws Exception {
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<CompletableFuture<HttpResponse<String>>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        return cluster.complete(p, maxTokens);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                }, pool));
            }
            List<HttpResponse<String>> out = new ArrayList<>();
            for (CompletableFuture<HttpResponse<String>> f : futures) {
                out.add(f.get());
            }
            return out;
        }
    }

    @Test
    @Order(1)
    void openAiRequests_realEngineBehindThreeWorkerProcesses_answerAndSpreadOverEveryWorker() throws Exception {
        assertThat(cluster.status("/ready")).isEqualTo(200);
        HttpResponse<String> chat = cluster.post("/v1/chat/completions", """
                {"model": "stories260K", "messages": [{"role": "user", "content": "Tell me a story about a cat."}],
                 "max_tokens": 16, "temperature": 0}""");
        assertThat(chat.statusCode()).as(chat.body()).isEqualTo(200);
        JsonNode c = ClusterFixture.json(chat);
        assertThat(c.at("/choices/0/message/content").asText()).isNotBlank();
        assertThat(c.at("/usage/completion_tokens").asInt()).isEqualTo(16);

        HttpResponse<String> stream = cluster.post("/v1/completions",
                "{\"prompt\": \"Lily went\", \"max_tokens\": 8, \"stream\": true, \"temperature\": 0}");
        assertThat(stream.statusCode()).isEqualTo(200);
        assertThat(stream.body()).startsWith("data: {").contains("\"text\":").endsWith("data: [DONE]\n\n");

        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            prompts.add(prompt("animal number " + i));
        }
        for (HttpResponse<String> r : concurrently(prompts, 24)) {
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
        }
        for (String id : List.of("w0", "w1", "w2")) {
            assertThat(cluster.load(cluster.worker(id)).promptTokens()).as("prompt tokens on " + id).isPositive();
        }
    }

    @Test
    @Order(2)
    void kvRouting_repeatedPrompts_landWhereTheirPrefixIsCached() throws Exception {
        for (String topic : List.of("dragon", "robot", "fish")) {
            HttpResponse<String> first = cluster.complete(prompt(topic), 4);
            assertThat(first.statusCode()).isEqualTo(200);
            Thread.sleep(300); // the worker's KV events travel through NATS to the router

            HttpResponse<String> again = cluster.complete(prompt(topic), 4);

            int cached = ClusterFixture.json(again).at("/usage/prompt_tokens_details/cached_tokens").asInt();
            assertThat(cached).as("cached prompt tokens for the repeated '" + topic + "' prompt").isGreaterThanOrEqualTo(32);
        }
    }

    /**
     * Multi-turn chats with sampled replies: each follow-up turn is routed to the worker holding
     * the conversation and finds the previous prompt and reply in its cache, to the token.
     */
    @Test
    @Order(2)
    void conversation_followUpTurn_cachedTokensCoverThePreviousPromptAndReply() throws Exception {
        for (int c = 0; c < 2; c++) {
            com.fasterxml.jackson.databind.node.ArrayNode messages = ClusterFixture.JSON.createArrayNode();
            messages.addObject().put("role", "user").put("content", "Tell me a story about a cat called number " + c
                    + ", a blue kite and a small boat on the lake.");
            int previousHeld = -1;
            for (int t = 0; t < 3; t++) {
                com.fasterxml.jackson.databind.node.ObjectNode body = ClusterFixture.JSON.createObjectNode();
                body.set("messages", messages);
                body.put("max_tokens", 24).put("temperature", 1.0).put("seed", 100 * c + t).put("ignore_eos", true);
                HttpResponse<String> r = cluster.post("/v1/chat/completions", body.toString());
                assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
                JsonNode answer = ClusterFixture.json(r);
                int prompt = answer.at("/usage/prompt_tokens").asInt();
                int cached = answer.at("/usage/prompt_tokens_details/cached_tokens").asInt();
                if (previousHeld >= 0) {
                    // all but the last generated token (never computed) and the last prompt token
                    int expected = Math.min(previousHeld, prompt - 1);
                    assertThat(cached).as("cached tokens of conversation %d turn %d: %s", c, t, messages)
                            .isEqualTo(expected);
                }
                previousHeld = prompt + answer.at("/usage/completion_tokens").asInt() - 1;
                messages.addObject().put("role", "assistant").put("content",
                        answer.at("/choices/0/message/content").asText());
                messages.addObject().put("role", "user").put("content", "And then what happened to the cat?");
                Thread.sleep(300); // the worker's KV events travel through NATS to the router
            }
        }
    }

    @Test
    @Order(3)
    void clientGoneMidStream_cancellationReachesTheWorkersEngineAndFreesItsBlocks() throws Exception {
        double gone = cluster.counter("tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"}");
        double finished = cluster.counter("tandem_frontend_output_tokens_count");
        String body = ClusterFixture.JSON.createObjectNode().put("prompt", prompt("turtle")).put("max_tokens", 400)
                .put("ignore_eos", true).put("stream", true).put("temperature", 0).toString();
        HttpResponse<InputStream> r = cluster.http.send(HttpRequest.newBuilder(URI.create(cluster.url + "/v1/completions"))
                .header("Content-Type", "application/json").timeout(Duration.ofSeconds(60))
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
        assertThat(r.statusCode()).isEqualTo(200);
        try (BufferedReader in = new BufferedReader(new InputStreamReader(r.body(), StandardCharsets.UTF_8))) {
            for (int chunks = 0; chunks < 3; ) {
                String line = in.readLine();
                assertThat(line).as("the stream ended early").isNotNull();
                chunks += line.startsWith("data: {") ? 1 : 0;
            }
            // mid-stream: some worker holds the sequence's KV blocks
            assertThat(activeBlocks()).isPositive();
        } // the client goes away with hundreds of tokens still to come

        // Uncancelled, the sequence would grow to (about 50 + 400) / 16 = 28 blocks before it ends.
        AtomicInteger most = new AtomicInteger();
        await().atMost(Duration.ofSeconds(20)).pollInterval(Duration.ofMillis(50)).until(() -> {
            int active = activeBlocks();
            most.accumulateAndGet(active, Math::max);
            return active == 0;
        });
        assertThat(most.get()).as("most KV blocks held after the client left").isLessThan(16);
        await().atMost(Duration.ofSeconds(10)).until(() -> cluster.counter(
                "tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"}") == gone + 1);
        // counted as gone before its end: a request that ran to max_tokens records its output tokens
        assertThat(cluster.counter("tandem_frontend_output_tokens_count")).isEqualTo(finished);
        assertThat(cluster.frontend.output()).contains("client disconnected (499), generation cancelled");
    }

    /** KV blocks held by running sequences on every live worker, asked over their request planes. */
    private static int activeBlocks() throws Exception {
        int sum = 0;
        for (String id : cluster.listed()) {
            sum += cluster.load(cluster.worker(id)).activeBlocks();
        }
        return sum;
    }

    @Test
    @Order(4)
    void workerStartedAfterTheFrontend_isFoundAndUsed() throws Exception {
        ClusterFixture.Worker w3 = cluster.awaitWorker(cluster.startWorker("w3", WORKER_ARGS));
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.listed().contains("w3"));

        // the first batch after it joined already uses it (the idle newcomer is the cheapest choice)
        List<String> prompts = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            prompts.add(prompt("bird " + i));
        }
        for (HttpResponse<String> r : concurrently(prompts, 24)) {
            assertThat(r.statusCode()).isEqualTo(200);
        }

        assertThat(cluster.load(w3).promptTokens()).isPositive();
    }

    @Test
    @Order(5)
    void workerWithAnotherBlockSize_isRefusedWithALogLineAndNeverUsed() throws Exception {
        ChildProcess wide = cluster.startWorker("wide", List.of("--mock", "--mock-speedup", "20", "--kv-blocks", "256",
                "--block-size", "32", "--lease-ttl-ms", Long.toString(TTL_MS)));
        cluster.awaitWorker(wide);
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.registered().contains("wide"));
        cluster.frontend.awaitCondition("to refuse the worker", Duration.ofSeconds(30),
                () -> cluster.frontend.output().contains("[worker=wide] refused"));

        String line = cluster.frontend.output().lines().filter(l -> l.contains("[worker=wide] refused")).findFirst()
                .orElseThrow();
        assertThat(line).contains("block size 16").contains("has 32");
        for (int i = 0; i < 6; i++) {
            assertThat(cluster.complete(prompt("crab " + i), 4).statusCode()).isEqualTo(200);
        }
        assertThat(cluster.listed()).doesNotContain("wide");
        assertThat(cluster.load(cluster.worker("wide")).promptTokens()).as("prompts on the refused worker").isZero();

        wide.stop(Duration.ofSeconds(10));
        await().atMost(Duration.ofSeconds(10)).until(() -> !cluster.registered().contains("wide"));
    }

    @Test
    @Order(6)
    void sigkill_workerDisappearsWithinTheTtlAndRequestsKeepSucceedingOnTheOthers() throws Exception {
        ClusterFixture.Worker w0 = cluster.worker("w0");
        Path pool = Path.of("/dev/shm/tandem-kv-w0.pool");
        AtomicBoolean running = new AtomicBoolean(true);
        List<Integer> statuses = new CopyOnWriteArrayList<>();
        Thread traffic = Thread.ofVirtual().start(() -> {
            for (int i = 0; running.get(); i++) {
                try {
                    statuses.add(cluster.complete(prompt("mouse " + i), 8).statusCode());
                } catch (Exception e) {
                    statuses.add(-1);
                }
            }
        });
        Thread.sleep(500);

        assertThat(cluster.registered()).contains("w0");
        long killedNs = System.nanoTime();
        w0.process().kill();
        await().atMost(Duration.ofMillis(TTL_MS + 5_000)).pollInterval(Duration.ofMillis(50))
                .until(() -> !cluster.listed().contains("w0"));
        long goneMs = (System.nanoTime() - killedNs) / 1_000_000;
        int failuresUntilGone = (int) statuses.stream().filter(s -> s != 200).count();
        int before = statuses.size();
        // the frontend drops a worker at its first failed call; the registry only when the lease lapses
        await().atMost(Duration.ofMillis(TTL_MS + 5_000)).pollInterval(Duration.ofMillis(50))
                .until(() -> !cluster.registered().contains("w0"));
        long expiredMs = (System.nanoTime() - killedNs) / 1_000_000;
        Thread.sleep(1_000);
        running.set(false);
        traffic.join(Duration.ofSeconds(60));

        System.out.printf("w0 killed: gone from the frontend after %d ms, its record from etcd after %d ms; "
                + "%d requests failed meanwhile%n", goneMs, expiredMs, failuresUntilGone);
        assertThat(goneMs).isLessThanOrEqualTo(TTL_MS + 2_000);
        assertThat(expiredMs).as("lease expiry after SIGKILL, ms").isLessThanOrEqualTo(TTL_MS + 2_000);
        assertThat(cluster.registered()).isEqualTo(cluster.listed());
        List<Integer> after = statuses.subList(before, statuses.size());
        assertThat(after).isNotEmpty().containsOnly(200);
        for (int i = 0; i < 6; i++) {
            assertThat(cluster.complete(prompt("cat " + i), 8).statusCode()).isEqualTo(200);
        }
        // a killed worker leaves its shared-memory pool behind; the next real worker on the host sweeps it
        assertThat(pool).exists();
    }

    @Test
    @Order(7)
    void natsRestart_requestsKeepFlowingAndEventsResumeWithSnapshotRecovery() throws Exception {
        double predictedBefore = cluster.counter("tandem_frontend_predicted_cached_tokens_total");
        double actualBefore = cluster.counter("tandem_frontend_actual_cached_tokens_total");
        cluster.nats.stop();

        // the request plane does not need NATS; these prompts' KV events are lost with the bus
        List<String> lost = List.of(prompt("penguin"), prompt("tiger"), prompt("snail"));
        for (String p : lost) {
            assertThat(cluster.complete(p, 4).statusCode()).isEqualTo(200);
        }
        int live = cluster.listed().size();
        cluster.frontend.awaitCondition("to notice the silent event plane", Duration.ofSeconds(30),
                () -> cluster.frontend.output().split("no events or load reports", -1).length > live);

        // without events the router goes by its own decisions: a repeated prompt follows the first
        for (String topic : List.of("heron", "otter", "lynx")) {
            assertThat(cluster.complete(prompt(topic), 4).statusCode()).isEqualTo(200);
            HttpResponse<String> again = cluster.complete(prompt(topic), 4);
            int cached = ClusterFixture.json(again).at("/usage/prompt_tokens_details/cached_tokens").asInt();
            assertThat(cached).as("cached tokens of a repeated '" + topic + "' prompt while NATS is down")
                    .isGreaterThanOrEqualTo(32);
        }
        cluster.nats.start();

        // every worker's events come back and the router asks each for a snapshot
        for (String id : List.of("w1", "w2", "w3")) {
            cluster.frontend.awaitCondition("to resync " + id, Duration.ofSeconds(60), () -> cluster.frontend.output()
                    .contains("[worker=" + id + "] events arrive again: KV snapshot requested"));
        }
        Thread.sleep(500);
        // only the snapshots tell the router where these prompts' blocks are
        for (String p : lost) {
            HttpResponse<String> again = cluster.complete(p, 4);
            int cached = ClusterFixture.json(again).at("/usage/prompt_tokens_details/cached_tokens").asInt();
            assertThat(cached).as("cached tokens of a prompt whose events were lost").isGreaterThanOrEqualTo(32);
        }
        double predicted = cluster.counter("tandem_frontend_predicted_cached_tokens_total") - predictedBefore;
        double actual = cluster.counter("tandem_frontend_actual_cached_tokens_total") - actualBefore;
        // the router knows whole blocks; the engine also reuses the partly filled last one
        assertThat(predicted).as("the router's prediction after recovery, in whole blocks")
                .isLessThanOrEqualTo(actual).isGreaterThan(actual - 16.0 * lost.size());
    }

    @Test
    @Order(8)
    void etcdRestart_servingContinuesRegistrationsSurviveAndTheWatchResumes() throws Exception {
        Set<String> before = cluster.listed();
        cluster.etcd.stop();

        assertThat(cluster.complete(prompt("owl"), 4).statusCode()).isEqualTo(200);
        cluster.etcd.start();

        Thread.sleep(TTL_MS);
        assertThat(cluster.listed()).isEqualTo(before);
        // the watch works again: a new worker is found (and, being a real engine on this host,
        // it sweeps the pool the killed w0 left in /dev/shm)
        cluster.awaitWorker(cluster.startWorker("w4", WORKER_ARGS));
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.listed().contains("w4"));
        assertThat(Path.of("/dev/shm/tandem-kv-w0.pool")).doesNotExist();
        assertThat(cluster.complete(prompt("fox"), 4).statusCode()).isEqualTo(200);
    }

    @Test
    @Order(9)
    void etcdRestartedWithoutItsData_everyWorkerRegistersAgain() throws Exception {
        Set<String> before = cluster.listed();
        cluster.etcd.kill();
        ClusterFixture.deleteTree(cluster.dir.resolve("etcd-data"));
        cluster.etcd.start();

        for (String id : before) {
            ChildProcess p = cluster.worker(id).process();
            p.awaitCondition("to register again", Duration.ofSeconds(60),
                    () -> p.output().contains("registered again at"));
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> cluster.listed().equals(before));
        assertThat(cluster.complete(prompt("bear"), 4).statusCode()).isEqualTo(200);
    }

    /**
     * A frozen worker (SIGSTOP) keeps its connections open, so nothing fails on its streams until
     * the connection's keepalive gives up (18.5 s). Once its lease lapses and the registry drops it,
     * its stalled streams migrate at once.
     */
    @Test
    @Order(10)
    void sigstop_frozenWorkersStreamMigratesWhenTheRegistryDropsIt() throws Exception {
        String p = prompt("frozen owl");
        java.util.Map<String, Long> before = new java.util.HashMap<>();
        for (String id : cluster.listed()) {
            before.put(id, cluster.load(cluster.worker(id)).promptTokens());
        }
        assertThat(cluster.complete(p, 4).statusCode()).isEqualTo(200);
        String served = null;
        for (String id : before.keySet()) {
            if (cluster.load(cluster.worker(id)).promptTokens() > before.get(id)) {
                served = id;
            }
        }
        assertThat(served).as("the worker that served the prompt").isNotNull();
        Thread.sleep(300); // its KV events reach the router: the same prompt goes there again
        String migrated = "tandem_frontend_migrations_total{outcome=\"migrated\"}";
        double migratedBefore = cluster.counter(migrated);
        ChildProcess frozen = cluster.worker(served).process();
        frozen.signal("STOP");
        try {
            long startNs = System.nanoTime();
            HttpResponse<String> r = cluster.complete(p, 8);
            long tookMs = (System.nanoTime() - startNs) / 1_000_000;

            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(cluster.counter(migrated)).isGreaterThan(migratedBefore);
            System.out.printf("worker %s frozen: its request answered after %d ms (lease %d ms)%n", served, tookMs,
                    TTL_MS);
            assertThat(tookMs).as("answered soon after the lease lapsed, not after the keepalive")
                    .isLessThan(TTL_MS + 8_000);
        } finally {
            frozen.signal("CONT");
        }
        String back = served;
        await().atMost(Duration.ofSeconds(60)).until(() -> cluster.listed().contains(back));
    }
}
