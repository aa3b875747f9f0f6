package dev.tandem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.http.StreamingHttp;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
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
import java.util.concurrent.atomic.AtomicReference;

/**
 * Sends streaming OpenAI requests and times every chunk as it arrives. The requests go through
 * {@link StreamingHttp} (a blocking client, HTTP/1.1 keep-alive pool, read by the calling virtual
 * thread): with no hand-off between threads before a request leaves or after a line arrives, the
 * times it records are the server's, not the client's (the JDK's asynchronous client added about
 * a millisecond to every time to first token). {@link #models}, {@link #status} and {@link #text}
 * use the JDK {@link HttpClient}.
 *
 * <p>Deadline: each request has {@code requestTimeout} from the moment it is sent to the end of
 * its stream: a watchdog aborts the exchange when it passes, which ends a blocked connect or read.
 *
 * <p>Safe for concurrent use: one instance serves every request of a run.
 */
public final class StreamingClient implements RequestExecutor, AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final int MAX_ERROR_BODY_CHARS = 64 * 1024;

    private final URI base;
    private final long requestTimeoutNs;
    private final String apiKey;
    private final ExecutorService httpExecutor = Executors.newVirtualThreadPerTaskExecutor();
    private final HttpClient http;
    private final StreamingHttp streams;
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
        long timeoutMs = TimeUnit.NANOSECONDS.toMillis(requestTimeoutNs);
        // the watchdog aborts first; the read timeout only backs it up
        this.streams = new StreamingHttp(Math.min(timeoutMs, 10_000), timeoutMs + 1_000);
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
        RequestResult.Builder result = RequestResult.builder(request.sessionId(), request.turn(), startNs)
                .scheduledNs(request.scheduledNs());
        List<String> headers = apiKey == null ? List.of() : List.of("Authorization", "Bearer " + apiKey);
        AtomicBoolean timedOut = new AtomicBoolean();
        AtomicReference<StreamingHttp.Exchange> open = new AtomicReference<>();
        ScheduledFuture<?> alarm = watchdog.schedule(() -> {
            timedOut.set(true);
            StreamingHttp.Exchange x = open.get();
            if (x != null) {
                x.abort();
            }
        }, requestTimeoutNs, TimeUnit.NANOSECONDS);
        StreamingHttp.Exchange x = null;
        boolean readToEnd = false;
        try {
            x = streams.post(base.resolve(request.path()), request.body(), headers, false, open::set);
            if (timedOut.get()) {
                x.abort(); // the alarm went off before the exchange could be aborted
            }
            result.httpStatus(x.status());
            if (x.status() != 200) {
                String text = x.lines().text(MAX_ERROR_BODY_CHARS);
                return result.endNs(System.nanoTime()).error("http_" + x.status(), errorMessage(text)).build();
            }
            StreamParser parser = new StreamParser();
            StreamingHttp.Lines body = x.lines();
            if (x.header("Content-Type").contains("text/event-stream")) {
                readToEnd = readStream(body, parser);
            } else {
                StringBuilder whole = new StringBuilder();
                for (String line = body.next(); line != null; line = body.next()) {
                    whole.append(line).append('\n');
                }
                readToEnd = true;
                parser.wholeBody(whole.toString(), System.nanoTime());
            }
            parser.fill(result.endNs(System.nanoTime()));
            return result.build();
        } catch (ConnectException e) {
            return result.endNs(System.nanoTime()).error(RequestResult.CONNECTION, describe(e)).build();
        } catch (IOException e) {
            result.endNs(System.nanoTime());
            return timedOut.get()
                    ? result.error(RequestResult.TIMEOUT, (x == null ? "no response" : "stream not finished")
                            + " within " + requestTimeoutNs / 1_000_000 + " ms").build()
                    : result.error(RequestResult.CONNECTION, describe(e)).build();
        } finally {
            alarm.cancel(false);
            if (x != null) {
                if (!readToEnd) {
                    x.abort();
                }
                closeQuietly(x);
            }
        }
    }

    /** Reads the stream; true when it was read to its end (so the connection can carry the next request). */
    private static boolean readStream(StreamingHttp.Lines in, StreamParser parser) throws IOException {
        String line;
        while ((line = in.next()) != null) {
            if (!parser.line(line, System.nanoTime())) {
                if (parser.failed()) {
                    return false;
                }
                // done: drain to the end of the body so the connection goes back to the pool
                while (in.next() != null) {
                    // discard
                }
                return true;
            }
        }
        parser.end(System.nanoTime());
        return true;
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

    private static void closeQuietly(java.io.Closeable in) {
        try {
            in.close();
        } catch (IOException e) {
            // closing a failed or finished stream: nothing left to do
        }
    }

    @Override
    public void close() {
        watchdog.shutdownNow();
        streams.close();
        http.shutdownNow();
        httpExecutor.shutdownNow();
    }
}
