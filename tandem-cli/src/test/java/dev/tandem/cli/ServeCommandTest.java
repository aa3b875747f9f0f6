package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import picocli.CommandLine;

@Timeout(120)
class ServeCommandTest {
    private static String modelFile() {
        return Path.of(System.getProperty("tandem.test.models"), "stories260K.gguf").toString();
    }

    @Test
    void serve_answersThenStopsWithNoThreadLeftBehind() throws Exception {
        Set<Thread> before = Thread.getAllStackTraces().keySet();
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs("--model", modelFile(), "--port", "0", "--workers", "2",
                "--kv-blocks", "256", "--threads", "1");
        AtomicInteger exit = new AtomicInteger(-1);
        Thread main = Thread.ofPlatform().name("serve-under-test").start(() -> {
            try {
                exit.set(cmd.call());
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null);
        String url = cmd.running.url();
        try (HttpClient client = HttpClient.newHttpClient()) {
            HttpResponse<String> ready = client.send(HttpRequest.newBuilder(URI.create(url + "/ready")).build(),
                    HttpResponse.BodyHandlers.ofString());
            HttpResponse<String> completion = client.send(HttpRequest.newBuilder(URI.create(url + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\": \"Once\", \"max_tokens\": 4}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(ready.statusCode()).isEqualTo(200);
            assertThat(completion.statusCode()).isEqualTo(200);
            assertThat(completion.body()).contains("\"model\":\"stories260K\"").contains("\"completion_tokens\":4");
        }

        cmd.stop.countDown();
        main.join(Duration.ofSeconds(30));

        assertThat(main.isAlive()).isFalse();
        assertThat(exit.get()).isZero();
        await().atMost(Duration.ofSeconds(10)).untilAsserted(() -> assertThat(leftBehind(before)).isEmpty());
    }

    /** The mock engine masks its pseudo tokens with the model's grammars: a forced call is a valid call. */
    @Test
    void serveMock_forcedToolCallAndJsonSchema_validOutput() throws Exception {
        ServeCommand cmd = new ServeCommand();
        new CommandLine(cmd).parseArgs("--model", modelFile(), "--port", "0", "--workers", "1", "--kv-blocks", "256",
                "--mock", "--mock-speedup", "50");
        Thread main = Thread.ofPlatform().name("serve-mock-under-test").start(() -> {
            try {
                cmd.call();
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> cmd.running != null);
            String url = cmd.running.url() + "/v1/chat/completions";
            String tools = "\"tools\": [{\"type\": \"function\", \"function\": {\"name\": \"get_weather\", "
                    + "\"parameters\": {\"type\": \"object\", \"properties\": {\"days\": {\"type\": \"integer\"}}, "
                    + "\"required\": [\"days\"]}}}], \"tool_choice\": \"required\"";
            try (HttpClient client = HttpClient.newHttpClient()) {
                HttpResponse<String> call = client.send(HttpRequest.newBuilder(URI.create(url))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": [{\"role\": \"user\", \"content\": "
                                + "\"Weather?\"}], \"max_tokens\": 400, \"seed\": 7, " + tools + "}")).build(),
                        HttpResponse.BodyHandlers.ofString());
                HttpResponse<String> json = client.send(HttpRequest.newBuilder(URI.create(url))
                        .POST(HttpRequest.BodyPublishers.ofString("{\"messages\": [{\"role\": \"user\", \"content\": "
                                + "\"x\"}], \"max_tokens\": 400, \"seed\": 7, \"response_format\": {\"type\": \"json_object\"}}"))
                        .build(), HttpResponse.BodyHandlers.ofString());

                com.fasterxml.jackson.databind.ObjectMapper mapper = new com.fasterxml.jackson.databind.ObjectMapper();
                var choice = mapper.readTree(call.body()).at("/choices/0");
                assertThat(choice.get("finish_reason").asText()).as(call.body()).isEqualTo("tool_calls");
                var arguments = mapper.readTree(choice.at("/message/tool_calls/0/function/arguments").asText());
                assertThat(arguments.get("days").isIntegralNumber()).as(call.body()).isTrue();
                String content = mapper.readTree(json.body()).at("/choices/0/message/content").asText();
                assertThat(mapper.readTree(content).isObject()).as(json.body()).isTrue();
            }
        } finally {
            cmd.stop.countDown();
            main.join(Duration.ofSeconds(30));
        }
    }

    @Test
    void serveHelp_oneKvDefaultAndTheConnectionBounds() {
        String help = Main.newCommandLine().getSubcommands().get("serve").getUsageMessage();
        assertThat(help).contains("--read-timeout-ms", "408", "--idle-timeout-ms", "--max-connections")
                .contains("default " + ServeCommand.DEFAULT_KV_CACHE_MEMORY)
                .doesNotContain("(default: 2GiB)");
    }

    @Test
    void serve_unknownModel_oneClearErrorAndExitCode1() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cli = Main.newCommandLine();
        cli.setErr(new java.io.PrintWriter(new PrintStream(err, true, StandardCharsets.UTF_8), true));

        int code = cli.execute("serve", "--model", "no-such-model", "--port", "0");

        assertThat(code).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).startsWith("error: model 'no-such-model' not found")
                .doesNotContain("Exception");
    }

    @Test
    void serve_badUpstreamOptions_oneClearErrorEach() {
        record Case(List<String> args, String message) {
        }
        for (Case c : List.of(
                new Case(List.of("--upstream", "localhost:8081"), "--upstream must be an http(s)://host:port URL"),
                new Case(List.of("--upstream", "http://127.0.0.1:1", "--upstream-kind", "tgi"),
                        "--upstream-kind must be auto, llama-server, vllm, sglang or openai, got 'tgi'"),
                new Case(List.of("--upstream", "http://127.0.0.1:1", "--workers", "2"), "drop --workers"),
                new Case(List.of("--upstream", "http://127.0.0.1:1", "--mock"), "--upstream and --mock"),
                new Case(List.of("--upstream-prefill", "http://127.0.0.1:1"), "name those with --upstream URL"),
                new Case(List.of("--upstream", "http://127.0.0.1:1", "--upstream-prefill", "http://127.0.0.1:2",
                        "--upstream-kind", "sglang"), "SGLang's prefill/decode disaggregation is its own protocol"),
                new Case(List.of("--upstream", "http://127.0.0.1:1", "--prefill-workers", "1", "--decode-workers", "1"),
                        "with --upstream servers, name the prefill servers with --upstream-prefill"))) {
            ByteArrayOutputStream err = new ByteArrayOutputStream();
            CommandLine cli = Main.newCommandLine();
            cli.setErr(new java.io.PrintWriter(new PrintStream(err, true, StandardCharsets.UTF_8), true));
            List<String> args = new java.util.ArrayList<>(List.of("serve", "--model", modelFile(), "--port", "0"));
            args.addAll(c.args());

            int code = cli.execute(args.toArray(String[]::new));

            assertThat(code).as(c.message()).isEqualTo(1);
            assertThat(err.toString(StandardCharsets.UTF_8)).contains(c.message()).doesNotContain("Exception");
        }
    }

    @Test
    void serve_unknownRouter_oneClearErrorAndExitCode1() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cli = Main.newCommandLine();
        cli.setErr(new java.io.PrintWriter(new PrintStream(err, true, StandardCharsets.UTF_8), true));

        int code = cli.execute("serve", "--model", modelFile(), "--port", "0", "--router", "bogus", "--kv-blocks", "64");

        assertThat(code).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("unknown router policy 'bogus'");
    }

    @Test
    void serve_unknownMockProfile_oneClearErrorAndExitCode1() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        CommandLine cli = Main.newCommandLine();
        cli.setErr(new java.io.PrintWriter(new PrintStream(err, true, StandardCharsets.UTF_8), true));

        int code = cli.execute("serve", "--model", modelFile(), "--port", "0", "--mock", "--mock-profile", "bogus",
                "--kv-blocks", "64");

        assertThat(code).isEqualTo(1);
        assertThat(err.toString(StandardCharsets.UTF_8)).contains("unknown mock timing profile 'bogus'")
                .doesNotContain("Exception");
    }

    /** Threads started since {@code before} that still run: non-daemon ones, and any of Tandem's (daemon or not). */
    private static Set<String> leftBehind(Set<Thread> before) {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> !before.contains(t) && t.isAlive() && !t.getName().startsWith("awaitility"))
                .filter(t -> !t.isDaemon() || t.getName().startsWith("tandem"))
                .map(Thread::getName)
                .collect(Collectors.toSet());
    }
}
