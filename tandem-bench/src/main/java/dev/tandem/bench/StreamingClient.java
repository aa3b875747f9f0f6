package dev.tandem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Sends streaming OpenAI requests with the JDK {@link HttpClient} (HTTP/1.1, keep-alive pool,
 * virtual threads) and times every chunk as it arrives.
 *
 * <p>Deadline: each request has {@code requestTimeout} from the moment it is sent to the end of
 * its stream. The client's own timeout covers the wait for response headers; after that a
 * watchdog closes the body stream when the deadline passes, which ends the blocked read.
 *
 * <p>Safe for concurrent use: one instance serves every request of a run.
 */
public final class StreamingClient implements RequestExecutor, AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_ERROR_BODY_BYTES = 64 * 1024;

    private final URI base;
    private final long requestTimeoutNs;
    private final String apiKey;
    private final ExecutorService httpExecutor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpClient http;
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("tandem-bench-deadlines").factory());

    /**
     * @param url            the server, {@code http://host:port} (a trailing {@code /v1} is accepted)
     * @param requestTimeout deadline per request, from sending to the end of the stream
     * @param apiKey         sent as a Bearer token; null for none
     */
    public StreamingClient(String url, Duration requestTimeout, String apiKey) {
        this.base = baseUri(url);
        if (requestTimeout.isNegative() || requestTimeout.isZero()) {
            throw new ConfigException("the request timeout must be positive, got " + requestTimeout);
        }
        this.requestTimeoutNs = requestTimeout.toNanos();
        this.apiKey = apiKey;
        this.http = HttpClient.newBuilder()
                .version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofNanos(Math.min(requestTimeoutNs, TimeUnit.SECONDS.toNanos(10))))
                .executor(httpExecutor)
                .build();
    }

    /** {@code http://host:port} without a trailing slash or {@code /v1}. */
    static URI baseUri(String url) {
        String u = url.trim();
        while (u.endsWith("/")) {
            u = u.substring(0, u.length() - 1);
        }
        if (u.endsWith("/v1")) {
            u = u.substring(0, u.length() - 3);
        }
        URI uri;
        try {
            uri = URI.create(u);
        } catch (IllegalArgumentException e) {
            throw new ConfigException("--url '" + url + "' is not a URL: " + e.getMessage());
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null) {
            throw new ConfigException("--url '" + url + "' must be http://host:port or https://host:port");
        }
        return uri;
    }

    public URI base() {
        return base;
    }

    @Override
    public RequestResult execute(PreparedRequest request) {
        long startNs = System.nanoTime();
        long deadlineNs = startNs + requestTimeoutNs;
        RequestResult.Builder result = RequestResult.builder(request.sessionId(), request.turn(), startNs)
                .scheduledNs(request.scheduledNs());
        HttpRequest.Builder hr = HttpRequest.newBuilder(base.resolve(request.path()))
                .timeout(Duration.ofNanos(requestTimeoutNs))
                .header("Content-Type", "application/json")
                .header("Accept", "text/event-stream")
                .POST(HttpRequest.BodyPublishers.ofByteArray(request.body()));
        if (apiKey != null) {
            hr.header("Authorization", "Bearer " + apiKey);
        }
        HttpResponse<InputStream> response;
        try {
            response = http.send(hr.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (HttpConnectTimeoutException | ConnectException e) {
            return result.endNs(System.nanoTime()).error(RequestResult.CONNECTION, describe(e)).build();
        } catch (HttpTimeoutException e) {
            return result.endNs(System.nanoTime()).error(RequestResult.TIMEOUT,
                    "no response within " + requestTimeoutNs / 1_000_000 + " ms").build();
        } catch (IOException e) {
            return result.endNs(System.nanoTime()).error(RequestResult.CONNECTION, describe(e)).build();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return result.endNs(System.nanoTime()).error(RequestResult.CONNECTION, "interrupted").build();
        }
        result.httpStatus(response.statusCode());
        AtomicBoolean timedOut = new AtomicBoolean();
        InputStream body = response.body();
        ScheduledFuture<?> alarm = watchdog.schedule(() -> {
            timedOut.set(true);
            closeQuietly(body);
        }, Math.max(0, deadlineNs - System.nanoTime()), TimeUnit.NANOSECONDS);
        try {
            if (response.statusCode() != 200) {
                String text = new String(body.readNBytes(MAX_ERROR_BODY_BYTES), StandardCharsets.UTF_8);
                return result.endNs(System.nanoTime())
                        .error("http_" + response.statusCode(), errorMessage(text)).build();
            }
            StreamParser parser = new StreamParser();
            boolean sse = response.headers().firstValue("Content-Type").orElse("").contains("text/event-stream");
            if (sse) {
                readStream(body, parser);
            } else {
                parser.wholeBody(new String(body.readAllBytes(), StandardCharsets.UTF_8), System.nanoTime());
            }
            parser.fill(result.endNs(System.nanoTime()));
            return result.build();
        } catch (IOException e) {
            result.endNs(System.nanoTime());
            return timedOut.get()
                    ? result.error(RequestResult.TIMEOUT, "stream not finished within " + requestTimeoutNs / 1_000_000
                            + " ms").build()
                    : result.error(RequestResult.CONNECTION, describe(e)).build();
        } finally {
            alarm.cancel(false);
            closeQuietly(body);
        }
    }

    private static void readStream(InputStream body, StreamParser parser) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(body, StandardCharsets.UTF_8), 16 * 1024);
        String line;
        while ((line = in.readLine()) != null) {
            if (!parser.line(line, System.nanoTime())) {
                if (parser.failed()) {
                    return;
                }
                // done: drain to the end of the body so the connection goes back to the pool
                while (in.read() >= 0) {
                    // discard
                }
                return;
            }
        }
        parser.end(System.nanoTime());
    }

    /** The model ids the server lists at {@code GET /v1/models}, within {@code timeout}. */
    public List<String> models(Duration timeout) {
        HttpRequest.Builder hr = HttpRequest.newBuilder(base.resolve("/v1/models")).timeout(timeout).GET();
        if (apiKey != null) {
            hr.header("Authorization", "Bearer " + apiKey);
        }
        try {
            HttpResponse<String> r = http.send(hr.build(), HttpResponse.BodyHandlers.ofString());
            if (r.statusCode() != 200) {
                throw new TandemException("GET " + base + "/v1/models answered " + r.statusCode() + ": "
                        + errorMessage(r.body()));
            }
            List<String> ids = new ArrayList<>();
            for (JsonNode m : JSON.readTree(r.body()).path("data")) {
                if (m.hasNonNull("id")) {
                    ids.add(m.get("id").asText());
                }
            }
            return ids;
        } catch (IOException e) {
            throw new TandemException("GET " + base + "/v1/models failed: " + describe(e), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new TandemException("interrupted while listing models", e);
        }
    }

    /** GET {@code path}; returns the status, or -1 when the server cannot be reached. */
    public int status(String path, Duration timeout) {
        try {
            return http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(timeout).GET().build(),
                    HttpResponse.BodyHandlers.discarding()).statusCode();
        } catch (IOException e) {
            return -1;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return -1;
        }
    }

    /** GET {@code path} as text, or null when it fails or answers other than 200. */
    public String text(String path, Duration timeout) {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(base.resolve(path)).timeout(timeout).GET()
                    .build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 ? r.body() : null;
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }

    /** The message of an OpenAI-shaped error body, else the body itself (shortened). */
    static String errorMessage(String body) {
        try {
            JsonNode root = JSON.readTree(body);
            if (root != null && root.path("error").isObject()) {
                return root.path("error").path("message").asText(body);
            }
        } catch (IOException e) {
            // not JSON: fall through to the raw text
        }
        String t = body.strip();
        return t.length() <= 200 ? t : t.substring(0, 197) + "...";
    }

    private static String describe(Throwable e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
    }

    private static void closeQuietly(InputStream in) {
        try {
            in.close();
        } catch (IOException e) {
            // closing a failed or finished stream: nothing left to do
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        http.shutdownNow();
        httpExecutor.shutdownNow();
    }
}
