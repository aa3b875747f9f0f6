package dev.tandem.runtime.http;

import java.io.Closeable;
import java.io.IOException;
import java.io.InputStream;
import java.net.SocketException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import org.apache.hc.client5.http.classic.methods.HttpPost;
import org.apache.hc.client5.http.config.ConnectionConfig;
import org.apache.hc.client5.http.impl.classic.CloseableHttpClient;
import org.apache.hc.client5.http.impl.classic.HttpClients;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManager;
import org.apache.hc.client5.http.impl.io.PoolingHttpClientConnectionManagerBuilder;
import org.apache.hc.core5.http.ClassicHttpResponse;
import org.apache.hc.core5.http.ContentType;
import org.apache.hc.core5.http.HttpEntity;
import org.apache.hc.core5.http.NoHttpResponseException;
import org.apache.hc.core5.http.io.SocketConfig;
import org.apache.hc.core5.http.io.entity.ByteArrayEntity;
import org.apache.hc.core5.io.CloseMode;
import org.apache.hc.core5.util.TimeValue;
import org.apache.hc.core5.util.Timeout;

/**
 * The HTTP client of streamed generation calls (an upstream engine's calls, the load generator's
 * requests): Apache HttpClient's blocking (classic) client, each call read by the thread that made
 * it (a virtual thread).
 *
 * <pre>
 * Design
 *   The call's thread connects, writes the request and reads the answer's lines itself: no hand-off
 *   between a selector thread and the caller before the request leaves or after a line arrives.
 *   Against llama-server on loopback (stories260K, 64 prompt tokens, one request at a time) the time
 *   to the first streamed line was about 1 ms shorter than with the JDK's asynchronous HttpClient
 *   or Helidon's WebClient, and level with a bare socket (docs/benchmarks.md, "External engines").
 *   Connections are pooled per server. A request whose connection is closed or reset before any
 *   answer (a pooled connection the server had closed while idle) is sent once more, as a new
 *   request, after the pool's idle connections are closed (so it goes on a new connection);
 *   nothing else is retried. A call with {@code closeAfter} (llama-server, which
 *   closes a connection after every streamed answer) says so and never returns its connection to
 *   the pool; once a server has closed a pooled connection under a request, every later call says
 *   so too (a server that closes after streamed answers would otherwise cost every request a
 *   failed write and read before it is sent again, which a load generator would count as the
 *   server's time).
 *
 * Deadlines
 *   connect: connectTimeoutMs; every read: readTimeoutMs (a backstop: the caller's own timer ends
 *   a call that has no headers or no end in time, by {@link Exchange#abort()}).
 *
 * Concurrency
 *   Safe for concurrent use. An {@link Exchange} is read by one thread; {@link Exchange#abort()}
 *   may be called from any thread, and makes a blocked read or connect fail at once.
 * </pre>
 */
public final class StreamingHttp implements AutoCloseable {
    /** Connections kept per server: more than any server runs requests at once. */
    private static final int MAX_CONNECTIONS = 4_096;
    /** Pooled connections idle this long are checked before they carry a request. */
    private static final TimeValue VALIDATE_AFTER_IDLE = TimeValue.ofSeconds(1);

    private final PoolingHttpClientConnectionManager connections;
    private final CloseableHttpClient client;
    /** Set when a server closed a pooled connection under a request: from then on no call pools its connection. */
    private volatile boolean serverClosesConnections;

    /**
     * @param connectTimeoutMs TCP connect deadline, ms
     * @param readTimeoutMs    deadline of every blocking read, ms
     */
    public StreamingHttp(long connectTimeoutMs, long readTimeoutMs) {
        this.connections = PoolingHttpClientConnectionManagerBuilder.create()
                .setDefaultSocketConfig(SocketConfig.custom().setTcpNoDelay(true)
                        .setSoTimeout(Timeout.ofMilliseconds(readTimeoutMs)).build())
                .setDefaultConnectionConfig(ConnectionConfig.custom()
                        .setConnectTimeout(Timeout.ofMilliseconds(connectTimeoutMs))
                        .setSocketTimeout(Timeout.ofMilliseconds(readTimeoutMs))
                        .setValidateAfterInactivity(VALIDATE_AFTER_IDLE).build())
                .setMaxConnPerRoute(MAX_CONNECTIONS).setMaxConnTotal(MAX_CONNECTIONS).build();
        // the one retry is this class's own (post): Apache's sends the same request again on the
        // same endpoint after some failures, which fails the same way
        this.client = HttpClients.custom().setConnectionManager(connections).disableAutomaticRetries()
                .disableRedirectHandling().disableCookieManagement().disableAuthCaching()
                .disableContentCompression().build();
    }

    /**
     * Sends a JSON POST and returns once the answer's status line and headers have come.
     *
     * @param headers     extra request headers, name then value, in pairs
     * @param closeAfter  true: ask the server to close the connection after this answer
     * @param onAbortable receives the exchange before the request is sent, so another thread can
     *                    abort it while it connects or waits for headers
     * @throws IOException the connection failed, was refused or aborted, or the server closed it
     *                     without answering
     */
    public Exchange post(URI uri, byte[] json, List<String> headers, boolean closeAfter,
                         Consumer<Exchange> onAbortable) throws IOException {
        for (int attempt = 1; ; attempt++) {
            HttpPost post = new HttpPost(uri);
            post.setHeader("Accept", "text/event-stream");
            for (int i = 0; i + 1 < headers.size(); i += 2) {
                post.setHeader(headers.get(i), headers.get(i + 1));
            }
            if (closeAfter || serverClosesConnections) {
                post.setHeader("Connection", "close");
            }
            post.setEntity(new ByteArrayEntity(json, ContentType.APPLICATION_JSON));
            Exchange exchange = new Exchange(post);
            onAbortable.accept(exchange);
            try {
                exchange.response = client.executeOpen(null, post, null);
                return exchange;
            } catch (IOException e) {
                if (attempt > 1 || post.isCancelled() || !droppedBeforeAnswer(e)) {
                    throw e;
                }
                // a pooled connection the server had closed: no pooled connection of this server
                // is to be trusted, and from now on none is kept
                serverClosesConnections = true;
                connections.closeIdle(TimeValue.ZERO_MILLISECONDS);
            }
        }
    }

    /**
     * Closed (EOF) or reset (a plain {@code SocketException}: "Connection reset", "Broken pipe")
     * before any answer; a refused connection or an unreachable host is not.
     */
    private static boolean droppedBeforeAnswer(IOException e) {
        return e instanceof NoHttpResponseException || e.getClass() == SocketException.class;
    }

    @Override
    public void close() {
        client.close(CloseMode.IMMEDIATE);
    }

    /** One request and its answer, open until closed or aborted. */
    public static final class Exchange implements Closeable {
        private final HttpPost post;
        private volatile ClassicHttpResponse response;

        private Exchange(HttpPost post) {
            this.post = post;
        }

        public int status() {
            return response.getCode();
        }

        /** The first value of an answer header, or "" when it has none. */
        public String header(String name) {
            var h = response.getFirstHeader(name);
            return h == null ? "" : h.getValue();
        }

        /** The answer's body as lines (UTF-8); an answer without a body reads as no lines. */
        public Lines lines() throws IOException {
            HttpEntity entity = response.getEntity();
            return new Lines(entity == null ? InputStream.nullInputStream() : entity.getContent());
        }

        /** Shuts the connection: the server sees it go, a blocked read or connect fails at once. */
        public void abort() {
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

    /**
     * A body's lines, each returned as soon as its end has arrived. (A {@code BufferedReader} over
     * an {@code InputStreamReader} may ask the stream for more bytes after a complete line, which
     * on a chunked answer waits for the server's next chunk: a streamed token would be seen only
     * with the next one.) Lines end with LF or CRLF; a last line without one is returned at the end.
     */
    public static final class Lines {
        /** Longest line accepted, bytes. */
        static final int MAX_LINE_BYTES = 16 << 20;
        private final InputStream in;
        private byte[] buf = new byte[8_192];
        private int start;
        private int end;
        private int scanned;

        Lines(InputStream in) {
            this.in = in;
        }

        /** The next line without its end, or null at the end of the body. */
        public String next() throws IOException {
            for (;;) {
                for (int i = Math.max(start, scanned); i < end; i++) {
                    if (buf[i] == '\n') {
                        int stop = i > start && buf[i - 1] == '\r' ? i - 1 : i;
                        String line = new String(buf, start, stop - start, StandardCharsets.UTF_8);
                        start = i + 1;
                        scanned = start;
                        return line;
                    }
                }
                scanned = end;
                if (start > 0) {
                    System.arraycopy(buf, start, buf, 0, end - start);
                    end -= start;
                    scanned -= start;
                    start = 0;
                }
                if (end == buf.length) {
                    if (buf.length >= MAX_LINE_BYTES) {
                        throw new IOException("a line longer than " + MAX_LINE_BYTES + " bytes");
                    }
                    buf = Arrays.copyOf(buf, buf.length * 2);
                }
                int n = in.read(buf, end, buf.length - end);
                if (n < 0) {
                    if (end == start) {
                        return null;
                    }
                    String line = new String(buf, start, end - start, StandardCharsets.UTF_8);
                    start = end;
                    scanned = end;
                    return line;
                }
                end += n;
            }
        }

        /** Up to {@code max} characters of what is left (an error body), lines joined by LF. */
        public String text(int max) throws IOException {
            StringBuilder sb = new StringBuilder();
            for (String line = next(); line != null && sb.length() < max; line = next()) {
                sb.append(line).append('\n');
            }
            return sb.length() <= max ? sb.toString() : sb.substring(0, max);
        }
    }
}
