package dev.tandem.worker.upstream;

import java.io.BufferedReader;
import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import org.apache.hc.client5.http.HttpRequestRetryStrategy;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.core5.http.ClassicHttpResponse;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.HttpRequest;
import org.apache.hc.core5.http.HttpResponse;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.io.SocketConfig;
import org.apache.hc.core5.http.io.entity.StringEntity;
import org.apache.hc.core5.http.protocol.HttpContext;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/**
 * The HTTP client of the streamed generation calls: Apache HttpClient's blocking (classic) client,
 * each call read on its own virtual thread.
 *
 * <pre>
 * Design
 *   The call's thread connects, writes the request and reads the answer's lines itself: no hand-off
 *   between a selector thread and the caller before the request leaves or after a line arrives.
 *   Against llama-server on loopback (stories260K, 64 prompt tokens, one request at a time) the time
 *   to the first streamed line was about 1 ms shorter than with the JDK's asynchronous HttpClient
 *   or Helidon's WebClient, and level with a bare socket (docs/benchmarks.md, "External engines").
 *   Connections are pooled per server. A server that answers a pooled connection by closing it
 *   (it had closed it while idle) gets the request once more on a new connection; nothing else is
 *   retried. A call with {@code closeAfter} (llama-server, which closes a connection after every
 *   streamed answer) says so and never returns its connection to the pool.
 *
 * Deadlines
 *   connect: connectTimeoutMs; every read: readTimeoutMs (a backstop; the engine's own timer ends a
 *   call that has no headers or no end in time, by {@link Exchange#abort()}).
 *
 * Concurrency
 *   Safe for concurrent use. An {@link Exchange} is read by one thread; {@link Exchange#abort()}
 *   may be called from any thread, and makes a blocked read or connect fail at once.
 * </pre>
 */
final class StreamingClient implements AutoCloseable {
    /** Connections kept per server: more than any server runs requests at once. */
    private static final int MAX_CONNECTIONS = 4_096;
    /** Pooled connections idle this long are checked before they carry a request. */
    private static final TimeValue VALIDATE_AFTER_IDLE = TimeValue.ofSeconds(1);

    private final CloseableHttpClient client;

    /**
     * @param connectTimeoutMs TCP connect deadline, ms
     * @param readTimeoutMs    deadline of every blocking read, ms
     */
    StreamingClient(long connectTimeoutMs, long readTimeoutMs) {
        var connections = PoolingHttpClientConnectionManagerBuilder.create()
                .setDefaultSocketConfig(SocketConfig.custom().setTcpNoDelay(true)
                        .setSoTimeout(Timeout.ofMilliseconds(readTimeoutMs)).build())
                .setDefaultConnectionConfig(ConnectionConfig.custom()
                        .setConnectTimeout(Timeout.ofMilliseconds(connectTimeoutMs))
                        .setSocketTimeout(Timeout.ofMilliseconds(readTimeoutMs))
                        .setValidateAfterInactivity(VALIDATE_AFTER_IDLE).build())
                .setMaxConnPerRoute(MAX_CONNECTIONS).setMaxConnTotal(MAX_CONNECTIONS).build();
        this.client = HttpClients.custom().setConnectionManager(connections).setRetryStrategy(new StaleRetry())
                .disableRedirectHandling().disableCookieManagement().disableAuthCaching()
                .disableContentCompression().build();
    }

    /**
     * Sends a JSON POST and returns once the answer's status line and headers have come.
     *
     * @param closeAfter true: ask the server to close the connection after this answer
     * @param onAbortable receives the exchange before the request is sent, so another thread can
     *                    abort it while it connects or waits for headers
     * @throws IOException the connection failed, was refused or aborted, or the server closed it
     *                     without answering
     */
    Exchange post(URI uri, String json, String requestId, boolean closeAfter,
                  java.util.function.Consumer<Exchange> onAbortable) throws IOException {
        HttpPost post = new HttpPost(uri);
        post.setHeader("Accept", "text/event-stream");
        post.setHeader("X-Request-Id", requestId);
        if (closeAfter) {
            post.setHeader("Connection", "close");
        }
        post.setEntity(new StringEntity(json, ContentType.APPLICATION_JSON));
        Exchange exchange = new Exchange(post);
        onAbortable.accept(exchange);
        exchange.response = client.executeOpen(null, post, null);
        return exchange;
    }

    @Override
    public void close() {
        client.close(CloseMode.IMMEDIATE);
    }

    /** One request and its answer, open until closed or aborted. */
    static final class Exchange implements Closeable {
        private final HttpPost post;
        private volatile ClassicHttpResponse response;

        private Exchange(HttpPost post) {
            this.post = post;
        }

        int status() {
            return response.getCode();
        }

        /** The answer's body as lines (UTF-8); an answer without a body reads as no lines. */
        BufferedReader lines() throws IOException {
            HttpEntity entity = response.getEntity();
            InputStream in = entity == null ? InputStream.nullInputStream() : entity.getContent();
            return new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        }

        /** Shuts the connection: the server sees it go, a blocked read or connect fails at once. */
        void abort() {
            post.cancel();
        }

        /** Releases the connection: to the pool when the body was read to its end, else shut. */
        @Override
        public void close() throws IOException {
            ClassicHttpResponse r = response;
            if (r != null) {
                r.close();
            }
        }
    }

    /** One more try of a request whose connection was closed before any answer came. */
    private static final class StaleRetry implements HttpRequestRetryStrategy {
        @Override
        public boolean retryRequest(HttpRequest request, IOException exception, int execCount, HttpContext context) {
            boolean cancelled = request instanceof HttpPost p && p.isCancelled();
            return execCount <= 1 && !cancelled && exception instanceof NoHttpResponseException;
        }

        @Override
        public boolean retryRequest(HttpResponse response, int execCount, HttpContext context) {
            return false;
        }

        @Override
        public TimeValue getRetryInterval(HttpResponse response, int execCount, HttpContext context) {
            return TimeValue.ZERO_MILLISECONDS;
        }
    }
}
