package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Malformed and hostile requests over raw sockets: each gets its documented status and an
 * OpenAI-shaped error, and the server keeps serving.
 */
@Timeout(60)
class BadRequestTest {
    private static final String CHAT = "/v1/chat/completions";
    private static final String COMPLETIONS = "/v1/completions";
    private static final long BODY_LIMIT = 64 * 1024;
    private static Harness h;

    /** WARNING and worse from the frontend's own loggers: failures it did not expect. */
    private static final List<String> serverWarnings = new CopyOnWriteArrayList<>();
    /** Held here: JUL keeps loggers only weakly. */
    private static final Logger FRONTEND_LOG = Logger.getLogger("dev.tandem.frontend");
    private static final Handler WARNINGS = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                serverWarnings.add(r.getLoggerName() + ": " + r.getMessage());
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };

    @BeforeAll
    static void start() {
        FRONTEND_LOG.addHandler(WARNINGS);
        h = Harness.stories(1, c -> c.withMaxBodyBytes(BODY_LIMIT).withTimeouts(60_000, 60_000, 1_000));
    }

    @AfterAll
    static void stop() {
        FRONTEND_LOG.removeHandler(WARNINGS);
        h.close();
    }

    @AfterEach
    void stillServing() throws Exception {
        RawHttp.Response ok = RawHttp.exchange(h.server.port(), RawHttp.post(COMPLETIONS,
                "{\"prompt\": \"a\", \"max_tokens\": 2, \"temperature\": 0}"));
        assertThat(ok.status()).isEqualTo(200);
        assertThat(Harness.json(ok.body()).get("usage").get("completion_tokens").asInt()).isEqualTo(2);
    }

    static Stream<Arguments> cases() {
        String msgs = "\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]";
        return Stream.of(
                chat("truncated JSON", "{\"messages\": [", 400, null),
                chat("array body", "[]", 400, null),
                chat("string body", "\"hello\"", 400, null),
                chat("empty body", "", 400, null),
                chat("trailing garbage", "{" + msgs + "} trailing", 400, null),
                chat("NaN literal", "{" + msgs + ", \"temperature\": NaN}", 400, null),
                chat("duplicate key", "{" + msgs + ", " + msgs + "}", 400, null),
                chat("deep nesting", "{\"x\": " + "[".repeat(5000) + "]".repeat(5000) + ", " + msgs + "}", 400, null),
                chat("messages missing", "{\"model\": \"test-model\"}", 400, "messages"),
                chat("messages wrong type", "{\"messages\": \"hi\"}", 400, "messages"),
                chat("messages empty", "{\"messages\": []}", 400, "messages"),
                chat("message not an object", "{\"messages\": [42]}", 400, "messages[0]"),
                chat("role missing", "{\"messages\": [{\"content\": \"hi\"}]}", 400, "messages[0].role"),
                chat("role unsupported", "{\"messages\": [{\"role\": \"function\", \"content\": \"x\"}]}", 400,
                        "messages[0].role"),
                chat("content a number", "{\"messages\": [{\"role\": \"user\", \"content\": 7}]}", 400,
                        "messages[0].content"),
                chat("image content part", "{\"messages\": [{\"role\": \"user\", \"content\": [{\"type\": "
                        + "\"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}", 400, "messages[0].content[0].type"),
                chat("negative max_tokens", "{" + msgs + ", \"max_tokens\": -1}", 400, "max_tokens"),
                chat("zero max_tokens", "{" + msgs + ", \"max_tokens\": 0}", 400, "max_tokens"),
                chat("max_tokens a string", "{" + msgs + ", \"max_tokens\": \"10\"}", 400, "max_tokens"),
                chat("max_tokens fractional", "{" + msgs + ", \"max_tokens\": 1.5}", 400, "max_tokens"),
                chat("huge max_tokens", "{" + msgs + ", \"max_tokens\": 1e30}", 400, "max_tokens"),
                chat("bigint max_tokens", "{" + msgs + ", \"max_tokens\": 99999999999999999999999999}", 400,
                        "max_tokens"),
                chat("prompt beyond context", "{" + msgs + ", \"max_tokens\": 5000}", 400, "messages"),
                chat("negative temperature", "{" + msgs + ", \"temperature\": -1}", 400, "temperature"),
                chat("temperature a string", "{" + msgs + ", \"temperature\": \"hot\"}", 400, "temperature"),
                chat("top_p zero", "{" + msgs + ", \"top_p\": 0}", 400, "top_p"),
                chat("presence_penalty out of range", "{" + msgs + ", \"presence_penalty\": 5}", 400,
                        "presence_penalty"),
                chat("seed a string", "{" + msgs + ", \"seed\": \"abc\"}", 400, "seed"),
                chat("n zero", "{" + msgs + ", \"n\": 0}", 400, "n"),
                chat("n huge", "{" + msgs + ", \"n\": 100000}", 400, "n"),
                chat("stream a string", "{" + msgs + ", \"stream\": \"yes\"}", 400, "stream"),
                chat("stop numbers", "{" + msgs + ", \"stop\": [1, 2]}", 400, "stop"),
                chat("stop empty string", "{" + msgs + ", \"stop\": \"\"}", 400, "stop"),
                chat("logprobs an integer in chat", "{" + msgs + ", \"logprobs\": 5}", 400, "logprobs"),
                chat("top_logprobs too many", "{" + msgs + ", \"logprobs\": true, \"top_logprobs\": 50}", 400,
                        "top_logprobs"),
                chat("tool without function", "{" + msgs + ", \"tools\": [{\"type\": \"function\"}]}", 400,
                        "tools[0].function"),
                chat("tool without name", "{" + msgs + ", \"tools\": [{\"type\": \"function\", \"function\": "
                        + "{\"parameters\": {\"type\": \"object\"}}}]}", 400, "tools[0].function.name"),
                chat("tool of another type", "{" + msgs + ", \"tools\": [{\"type\": \"retrieval\"}]}", 400,
                        "tools[0].type"),
                chat("tool parameters not an object", "{" + msgs + ", \"tools\": [{\"type\": \"function\", "
                        + "\"function\": {\"name\": \"f\", \"parameters\": [1]}}]}", 400, "tools[0].function.parameters"),
                chat("tool parameters of type string", "{" + msgs + ", \"tools\": [{\"type\": \"function\", "
                        + "\"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"string\"}}}]}", 400,
                        "tools[0].function.parameters"),
                chat("tool parameters with an unsupported keyword", "{" + msgs + ", \"tools\": [{\"type\": "
                        + "\"function\", \"function\": {\"name\": \"f\", \"parameters\": {\"type\": \"object\", "
                        + "\"properties\": {\"a\": {\"type\": \"string\", \"format\": \"date\"}}}}}]}", 400,
                        "tools[0].function.parameters"),
                chat("two tools with one name", "{" + msgs + ", \"tools\": [{\"type\": \"function\", \"function\": "
                        + "{\"name\": \"f\"}}, {\"type\": \"function\", \"function\": {\"name\": \"f\"}}]}", 400,
                        "tools[1].function.name"),
                chat("tool_choice names an unknown function", "{" + msgs + ", \"tools\": [{\"type\": \"function\", "
                        + "\"function\": {\"name\": \"f\"}}], \"tool_choice\": {\"type\": \"function\", "
                        + "\"function\": {\"name\": \"g\"}}}", 400, "tool_choice.function.name"),
                chat("tool_choice unknown word", "{" + msgs + ", \"tools\": [{\"type\": \"function\", "
                        + "\"function\": {\"name\": \"f\"}}], \"tool_choice\": \"always\"}", 400, "tool_choice"),
                chat("tool_choice without tools", "{" + msgs + ", \"tool_choice\": \"required\"}", 400, "tool_choice"),
                chat("parallel_tool_calls a string", "{" + msgs + ", \"tools\": [{\"type\": \"function\", "
                        + "\"function\": {\"name\": \"f\"}}], \"parallel_tool_calls\": \"yes\"}", 400,
                        "parallel_tool_calls"),
                chat("tool message without tool_call_id", "{\"messages\": [{\"role\": \"tool\", \"content\": "
                        + "\"42\"}]}", 400, "messages[0].tool_call_id"),
                chat("assistant tool_calls without arguments", "{\"messages\": [{\"role\": \"assistant\", "
                        + "\"tool_calls\": [{\"id\": \"c\", \"type\": \"function\", \"function\": {\"name\": "
                        + "\"f\"}}]}]}", 400, "messages[0].tool_calls[0].function.arguments"),
                chat("response_format unknown type", "{" + msgs + ", \"response_format\": {\"type\": \"xml\"}}",
                        400, "response_format.type"),
                chat("response_format schema keyword unsupported", "{" + msgs + ", \"response_format\": {\"type\": "
                        + "\"json_schema\", \"json_schema\": {\"name\": \"s\", \"schema\": {\"type\": \"string\", "
                        + "\"pattern\": \"a+\"}}}}", 400, "response_format.json_schema.schema"),
                chat("response_format schema without name", "{" + msgs + ", \"response_format\": {\"type\": "
                        + "\"json_schema\", \"json_schema\": {\"schema\": {}}}}", 400, "response_format.json_schema.name"),
                chat("unknown model", "{\"model\": \"gpt-9\", " + msgs + "}", 404, "model"),
                completions("prompt missing", "{\"max_tokens\": 3}", 400, "prompt"),
                completions("prompt empty array", "{\"prompt\": []}", 400, "prompt"),
                completions("token id outside vocabulary", "{\"prompt\": [1, 2, 999999]}", 400, "prompt"),
                completions("negative token id", "{\"prompt\": [1, -2]}", 400, "prompt"),
                completions("mixed prompt list", "{\"prompt\": [\"a\", 1]}", 400, "prompt"),
                completions("echo", "{\"prompt\": \"a\", \"echo\": true}", 400, "echo"),
                completions("logprobs too many", "{\"prompt\": \"a\", \"logprobs\": 99}", 400, "logprobs"),
                Arguments.of("invalid UTF-8", RawHttp.post(CHAT, RawHttp.concat(
                        "{\"messages\": [{\"role\": \"user\", \"content\": \"".getBytes(StandardCharsets.US_ASCII),
                        new byte[] {(byte) 0xC3, (byte) 0x28, '"', '}', ']', '}'})), 400, null),
                Arguments.of("10 MB body", tenMegabytes(), 413, null),
                Arguments.of("chunked body over the limit", chunkedOverLimit(), 413, null),
                Arguments.of("unknown path", RawHttp.post("/v1/nothing", "{}"), 404, null),
                Arguments.of("GET on a POST endpoint", RawHttp.request("GET " + CHAT
                        + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", new byte[0]), 405, null),
                Arguments.of("DELETE on models", RawHttp.request("DELETE /v1/models HTTP/1.1\r\nHost: x\r\n"
                        + "Connection: close\r\n\r\n", new byte[0]), 405, null),
                Arguments.of("garbage request line", RawHttp.request("GARBAGE\r\n\r\n", new byte[0]), 400, null),
                Arguments.of("TLS handshake on the plain port", RawHttp.request("", tlsClientHello()), 400, null),
                Arguments.of("HTTP/2 preface on an HTTP/1 request", RawHttp.request(
                        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", new byte[0]), 400, null),
                Arguments.of("negative Content-Length", RawHttp.request("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: -5\r\nConnection: close\r\n\r\n", new byte[0]), 400, null),
                Arguments.of("two Content-Lengths", RawHttp.request("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{}", new byte[0]),
                        400, null),
                // Helidon's chunk parser waits for more data on a bad size: the read timeout answers
                Arguments.of("bad chunk size", RawHttp.request("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\n"
                        + "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
                        new byte[0]), 408, null),
                Arguments.of("header line too long", RawHttp.request("GET /health HTTP/1.1\r\nHost: x\r\nX-A: "
                        + "a".repeat(100_000) + "\r\nConnection: close\r\n\r\n", new byte[0]), 400, null),
                Arguments.of("no Host header", RawHttp.request("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n",
                        new byte[0]), 400, null),
                Arguments.of("bad percent-encoding in the path", RawHttp.request("GET /%zz HTTP/1.1\r\nHost: x\r\n"
                        + "Connection: close\r\n\r\n", new byte[0]), 400, null),
                chat("content null for a user", "{\"messages\": [{\"role\": \"user\", \"content\": null}]}", 400,
                        "messages[0].content"),
                chat("model a number", "{\"model\": 5, " + msgs + "}", 400, "model"),
                chat("stop list too long", "{" + msgs + ", \"stop\": [" + "\"a\", ".repeat(16) + "\"b\"]}", 400,
                        "stop"),
                chat("logit_bias not an object", "{" + msgs + ", \"logit_bias\": [1]}", 400, "logit_bias"),
                Arguments.of("bad Content-Length", RawHttp.request("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\n"
                        + "Content-Length: banana\r\nConnection: close\r\n\r\n", new byte[0]), 400, null));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void badRequest_answeredWithDocumentedStatusAndOpenAiError(String name, byte[] request, int status, String param)
            throws IOException {
        RawHttp.Response r = RawHttp.exchange(h.server.port(), request);

        assertThat(r.status()).as(name).isEqualTo(status);
        assertThat(r.headers().get("content-type")).as(name).startsWith("application/json");
        JsonNode error = Harness.json(r.body()).get("error");
        assertThat(error).as(name + ": " + r.body()).isNotNull();
        assertThat(error.get("message").asText()).as(name).isNotBlank();
        assertThat(error.has("type")).isTrue();
        assertThat(error.has("param")).isTrue();
        assertThat(error.has("code")).isTrue();
        if (param != null) {
            assertThat(error.get("param").asText()).as(name + ": " + r.body()).isEqualTo(param);
        }
        assertThat(error.get("message").asText()).as(name).doesNotContain("at dev.tandem", "Exception:");
    }

    @Test
    void missingContentType_bodyStillReadAsJson() throws IOException {
        byte[] body = "{\"prompt\": \"a\", \"max_tokens\": 1, \"temperature\": 0}".getBytes(StandardCharsets.UTF_8);
        RawHttp.Response r = RawHttp.exchange(h.server.port(), RawHttp.request("POST " + COMPLETIONS
                + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + body.length + "\r\nConnection: close\r\n\r\n", body));

        assertThat(r.status()).isEqualTo(200);
    }

    @Test
    void unknownFields_ignored() throws IOException {
        RawHttp.Response r = RawHttp.exchange(h.server.port(), RawHttp.post(COMPLETIONS,
                "{\"prompt\": \"a\", \"max_tokens\": 1, \"frobnicate\": {\"x\": [1]}, \"store\": true}"));

        assertThat(r.status()).isEqualTo(200);
    }

    @Test
    void slowClient_stalledBody_408AfterTheReadTimeoutThenClosed() throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
            s.setSoTimeout(20_000);
            OutputStream out = s.getOutputStream();
            out.write(("POST " + COMPLETIONS + " HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\"")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            // send nothing more: the server gives up after its read timeout (1 s here)
            InputStream in = s.getInputStream();
            RawHttp.Response r = RawHttp.read(in);
            assertThat(r.status()).isEqualTo(408);
            assertThat(Harness.json(r.body()).at("/error/code").asText()).isEqualTo("request_timeout");
            assertThat(r.headers().get("connection")).isEqualTo("close");
            assertThat(in.read()).as("connection closed after the 408").isEqualTo(-1);
        }
    }

    /** A client that sends its whole body before reading (no Expect: 100-continue) still reads the 413. */
    @Test
    void oversizedBody_sentWholeBeforeReading_413IsRead() throws IOException {
        byte[] request = RawHttp.request("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + "Content-Length: " + (10 << 20) + "\r\n\r\n", new byte[10 << 20]);
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
            s.setSoTimeout(20_000);
            s.getOutputStream().write(request); // throws if the server resets the connection
            s.getOutputStream().flush();
            RawHttp.Response r = RawHttp.read(s.getInputStream());
            assertThat(r.status()).isEqualTo(413);
            assertThat(Harness.json(r.body()).at("/error/code").asText()).isEqualTo("request_too_large");
        }
    }

    /** With Expect: 100-continue the 413 comes before the body is sent. */
    @Test
    void oversizedBody_expectContinue_413BeforeTheBody() throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
            s.setSoTimeout(20_000);
            s.getOutputStream().write(("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    + "Content-Length: " + (10 << 20) + "\r\nExpect: 100-continue\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            RawHttp.Response r = RawHttp.read(s.getInputStream());
            assertThat(r.status()).isEqualTo(413);
            assertThat(s.getInputStream().read()).as("connection closed: the body never came").isEqualTo(-1);
        }
    }

    @Test
    void connectionCloseRequested_socketClosedAfterTheResponse() throws IOException {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
            s.setSoTimeout(20_000);
            s.getOutputStream().write("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                    .getBytes(StandardCharsets.US_ASCII));
            s.getOutputStream().flush();
            RawHttp.Response r = RawHttp.read(s.getInputStream());
            assertThat(r.status()).isEqualTo(200);
            assertThat(s.getInputStream().read()).as("end of stream, not a timeout").isEqualTo(-1);
        }
    }

    @Test
    void slowClients_manyStalledHeadersAndBodies_othersServedMeanwhile() throws Exception {
        List<Socket> stalled = new ArrayList<>();
        try {
            for (int i = 0; i < 40; i++) {
                Socket s = new Socket();
                s.connect(new InetSocketAddress("127.0.0.1", h.server.port()), 5000);
                String partial = i % 2 == 0
                        ? "POST " + COMPLETIONS + " HTTP/1.1\r\nHost: x\r\nContent-Ty"
                        : "POST " + COMPLETIONS + " HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{\"pro";
                s.getOutputStream().write(partial.getBytes(StandardCharsets.US_ASCII));
                s.getOutputStream().flush();
                stalled.add(s);
            }

            RawHttp.Response r = RawHttp.exchange(h.server.port(), RawHttp.post(CHAT,
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}], \"max_tokens\": 3}"));

            assertThat(r.status()).isEqualTo(200);
            assertThat(Harness.json(r.body()).get("usage").get("completion_tokens").asInt()).isEqualTo(3);
        } finally {
            for (Socket s : stalled) {
                s.close();
            }
        }
        // the 20 clients that left mid-body count as 499, not as server failures
        await().atMost(Duration.ofSeconds(10)).until(() -> RawHttp.exchange(h.server.port(),
                RawHttp.request("GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", new byte[0])).body()
                .contains("tandem_frontend_requests_total{endpoint=\"completions\",status=\"499\"} 20"));
        assertThat(serverWarnings).isEmpty();
    }

    @Test
    void badRequestTable_hasAtLeastThirtyHostileCases() {
        assertThat(cases().count()).isGreaterThanOrEqualTo(30);
    }

    private static Arguments chat(String name, String body, int status, String param) {
        return Arguments.of(name, RawHttp.post(CHAT, body), status, param);
    }

    private static Arguments completions(String name, String body, int status, String param) {
        return Arguments.of(name, RawHttp.post(COMPLETIONS, body), status, param);
    }

    /** The start of a TLS 1.2 ClientHello, as curl sends to an https:// URL on this plain port. */
    private static byte[] tlsClientHello() {
        byte[] hello = new byte[517];
        byte[] head = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, (byte) 0xfc, 0x03, 0x03};
        System.arraycopy(head, 0, hello, 0, head.length);
        for (int i = head.length; i < hello.length; i++) {
            hello[i] = (byte) (i * 31 + 7);
        }
        return hello;
    }

    private static byte[] tenMegabytes() {
        byte[] body = new byte[10 * 1024 * 1024];
        Arrays.fill(body, (byte) ' ');
        return RawHttp.post(CHAT, body);
    }

    private static byte[] chunkedOverLimit() {
        byte[] chunk = new byte[16 * 1024];
        Arrays.fill(chunk, (byte) ' ');
        byte[] head = ("POST " + CHAT + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] out = head;
        for (int i = 0; i < 8; i++) {
            out = RawHttp.concat(out, RawHttp.concat("4000\r\n".getBytes(StandardCharsets.US_ASCII),
                    RawHttp.concat(chunk, "\r\n".getBytes(StandardCharsets.US_ASCII))));
        }
        return RawHttp.concat(out, "0\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
    }
}
