package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import picocli.CommandLine;

@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ServeBenchCommandTest {
    private record Run(int exit, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine cli = Main.newCommandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int exit = cli.execute(args);
        return new Run(exit, out.toString(), err.toString());
    }

    /** A server that streams "hi" with usage for every completion request. */
    private static HttpServer fakeServer() throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 16);
        server.setExecutor(Executors.newVirtualThreadPerTaskExecutor());
        server.createContext("/v1/models", ex -> {
            byte[] b = "{\"data\":[{\"id\":\"m1\"}]}".getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(200, b.length);
            ex.getResponseBody().write(b);
            ex.close();
        });
        server.createContext("/v1/", ex -> {
            ex.getRequestBody().readAllBytes();
            ex.getResponseHeaders().set("Content-Type", "text/event-stream");
            ex.sendResponseHeaders(200, 0);
            try (OutputStream out = ex.getResponseBody()) {
                out.write(("data: {\"choices\":[{\"text\":\"hi\",\"delta\":{\"content\":\"hi\"}}]}\n\n"
                        + "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":10,\"completion_tokens\":1,"
                        + "\"prompt_tokens_details\":{\"cached_tokens\":4}}}\n\ndata: [DONE]\n\n")
                        .getBytes(StandardCharsets.UTF_8));
            }
        });
        server.start();
        return server;
    }

    @Test
    void serve_jsonAgainstAServer_printsTheSummaryObject() throws Exception {
        HttpServer server = fakeServer();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            Run r = run("bench", "serve", "--url", url, "--workload", "random", "--requests", "6", "--input-len", "4..8",
                    "--output-len", "1", "--concurrency", "2", "--json", "--quiet");
            assertThat(r.exit()).as(r.err()).isZero();
            JsonNode j = new ObjectMapper().readTree(r.out());
            assertThat(j.path("command").asText()).isEqualTo("tandem bench serve --url " + url
                    + " --workload random --requests 6 --input-len 4..8 --output-len 1 --concurrency 2 --json --quiet");
            assertThat(j.path("model").asText()).isEqualTo("m1");
            assertThat(j.path("runs").path(0).path("succeeded").asInt()).isEqualTo(6);
            assertThat(j.path("runs").path(0).path("cache_hit_rate").asDouble()).isEqualTo(0.4);
        } finally {
            server.stop(0);
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "--workload chat|--workload must be conversations, shared-prefix, trace or random, got 'chat'",
        "--workload trace|--workload trace needs --trace FILE",
        "--workload trace --trace /nonexistent.jsonl|/nonexistent.jsonl does not exist",
        "--rate 2 --concurrency 3|choose one of --concurrency, --rate and --speedup",
        "--poisson|--poisson needs --rate",
        "--speedup 2|--speedup needs --workload trace",
        "--rate 0|--rate must be a positive number, got 0.0",
        "--concurrency 0|--concurrency must be >= 1, got 0",
        "--workload random --max-tokens 5|--workload random takes --output-len, not --max-tokens",
        "--workload random --input-len abc|--input-len 'abc' is not N, MIN..MAX or normal:MEAN:STDDEV",
        "--workload random --token-ids 5|--token-ids must be LO:HI, got '5'",
        "--turns 0|--conversations and --turns must be >= 1, got 10 and 0",
        "--ttft-slo-ms -1|--ttft-slo-ms and --itl-slo-ms must be positive",
        "--request-timeout-s 0|--request-timeout-s must be positive"})
    void serve_badOption_oneClearErrorNoStackTrace(String options, String message) {
        String[] args = ("bench serve --url http://127.0.0.1:9 --quiet " + options).split(" ");
        Run r = run(args);
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: ").contains(message).doesNotContain("Exception").doesNotContain("\tat ");
    }

    @Test
    void serve_badUrl_clearError() {
        Run r = run("bench", "serve", "--url", "localhost:8000", "--quiet");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: --url 'localhost:8000' must be http://host:port");
    }

    @Test
    void serve_nothingListening_clearErrorAboutTheModelList() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        Run r = run("bench", "serve", "--url", "http://127.0.0.1:" + port, "--quiet");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("error: GET http://127.0.0.1:" + port + "/v1/models failed");
    }

    @Test
    void compare_twoRates_clearError() {
        Run r = run("bench", "compare", "--rate", "1,2", "--quiet");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("bench compare takes one --concurrency or --rate value");
    }

    @Test
    void compare_unknownConfiguration_clearError() {
        Run r = run("bench", "compare", "--configs", "kv,turbo", "--quiet");
        assertThat(r.exit()).isEqualTo(1);
        assertThat(r.err()).contains("unknown configuration 'turbo'");
    }
}
