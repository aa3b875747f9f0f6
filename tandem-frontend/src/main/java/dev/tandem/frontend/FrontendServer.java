package dev.tandem.frontend;

import dev.tandem.core.ConfigException;
import dev.tandem.frontend.AdmissionQueue.Permit;
import dev.tandem.frontend.openai.ApiException;
import dev.tandem.frontend.openai.CompletionSpec;
import dev.tandem.frontend.openai.Endpoint;
import dev.tandem.frontend.openai.RequestParser;
import dev.tandem.frontend.openai.ResponseWriter;
import dev.tandem.runtime.metrics.DisaggMetrics;
import io.helidon.common.buffers.DataReader;
import io.helidon.http.DirectHandler;
import io.helidon.http.HeaderNames;
import io.helidon.http.Status;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.http.DirectHandlers;
import io.helidon.webserver.http.FilterChain;
import io.helidon.webserver.http.RoutingRequest;
import io.helidon.webserver.http.RoutingResponse;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;

/**
 * Tandem's OpenAI-compatible HTTP server: {@code /v1/chat/completions}, {@code /v1/completions},
 * {@code /v1/models}, {@code /health}, {@code /ready} and {@code /metrics}, on Helidon WebServer
 * (one virtual thread per request, TCP_NODELAY on so streamed tokens leave at once).
 *
 * <h2>Design</h2>
 * Handlers stay small: {@link CompletionHandler} does generation; this class owns the server, the
 * admission queue, the worker set and the routing seam, and turns every failure into OpenAI's
 * error shape, including the ones Helidon answers itself (malformed HTTP, oversized bodies).
 * Shutdown ({@link #close()}) stops admitting, lets running requests finish for the grace period,
 * cancels what is left, and stops the listener.
 *
 * <h2>Size</h2>
 * Over 500 lines on purpose: the HTTP edges (body deadlines, oversized bodies, connection
 * bounds, Helidon's own error answers) each need a few lines against the same server and
 * routing; the request pipeline itself is {@link CompletionHandler}.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use; request state is confined to request threads.
 */
public final class FrontendServer implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger(FrontendServer.class.getName());
    private static final byte[] READY = "{\"status\":\"ready\"}".getBytes(StandardCharsets.US_ASCII);
    private static final byte[] HEALTHY = "{\"status\":\"ok\"}".getBytes(StandardCharsets.US_ASCII);
    private static final int BODY_READING = 0;
    private static final int BODY_DONE = 1;
    private static final int BODY_TIMED_OUT = 2;
    /** Set on a request's thread when its connection must close after the response (see closeWhenAsked). */
    private static final ThreadLocal<Boolean> CLOSE_AFTER = new ThreadLocal<>();
    /** The response of the generation request on this thread, so a body read past its deadline can be answered. */
    private static final ThreadLocal<ServerResponse> RESPONSE = new ThreadLocal<>();

    private final FrontendConfig config;
    private final List<ServedModel> models;
    private final WorkerSet workers;
    private final AdmissionQueue admission;
    private final FrontendMetrics metrics;
    private final CompletionHandler completions;
    /** Requests inside a handler; read by metrics and shutdown. */
    private final AtomicInteger inFlight = new AtomicInteger();
    /** Generations running now, so shutdown can cancel them. */
    private final Set<Generation> active = ConcurrentHashMap.newKeySet();
    /** Numbers request ids; combined with a random prefix so ids differ across restarts. */
    private final AtomicLong requestCounter = new AtomicLong();
    private final String idPrefix = Long.toString(ThreadLocalRandom.current().nextLong() >>> 1, 36);
    private final long startedSeconds = TimeUnit.MILLISECONDS.toSeconds(System.currentTimeMillis());
    private final WebServer server;
    /** Bodies being read now; the watchdog cuts off the ones past their deadline. */
    private final Set<BodyRead> bodyReads = ConcurrentHashMap.newKeySet();
    /** Connections between a request line and the end of its headers; the watchdog closes the late ones. */
    private final HeaderDeadlines headerDeadlines;
    /** Ticks every {@link #watchdogPeriodMs()}; one daemon thread, stopped by close(). */
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("tandem-frontend-body-watchdog").factory());
    /** Set once by {@link #close()}; read by every request. */
    private volatile boolean closing;

    private FrontendServer(FrontendConfig config, List<ServedModel> models, WorkerSet workers,
                           WorkerSelector selector, DispatchConfig dispatch, DisaggMetrics disagg,
                           IntSupplier activePins) {
        if (models.isEmpty()) {
            throw new ConfigException("the frontend needs at least one model");
        }
        this.config = config;
        this.models = List.copyOf(models);
        this.workers = workers;
        this.admission = new AdmissionQueue(config.maxRunning(), config.maxQueued());
        this.metrics = new FrontendMetrics(inFlight::get, admission::queued, workers);
        disagg.register(metrics.registry(), activePins);
        if (selector instanceof RouterSelector routing) {
            RouterMetrics.register(metrics.registry(), routing.router()::stats, workers);
        }
        this.completions = new CompletionHandler(config, this::resolveModel, workers, selector,
                new Dispatcher(dispatch, selector, workers, disagg),
                this::admit, this::newRequestId, active, metrics);
        this.headerDeadlines = new HeaderDeadlines(TimeUnit.MILLISECONDS.toNanos(config.readTimeoutMs()));
        this.server = WebServer.builder()
                .host(config.host())
                .update(b -> {
                    Http1Config http1 = Http1Config.builder().addReceiveListener(headerDeadlines).build();
                    if (config.maxConnectionsPerClient() > 0) {
                        // first in the list, so HTTP/1 connections go through the per-client count
                        b.addConnectionSelector(new PerClientConnections(http1, config.maxConnectionsPerClient()));
                    }
                    b.addProtocol(http1);
                })
                .port(config.port())
                .connectionOptions(o -> o.tcpNoDelay(true))
                // bodies up to the drain limit reach readBody, which answers 413 after reading them, so
                // a client that sends its whole body before reading (no Expect: 100-continue) gets the 413
                .maxPayloadSize(drainLimit(config.maxBodyBytes()))
                .maxTcpConnections(config.maxConnections())
                .idleConnectionTimeout(Duration.ofMillis(config.idleTimeoutMs()))
                .idleConnectionPeriod(Duration.ofMillis(Math.clamp(config.idleTimeoutMs() / 4, 50, 1000)))
                .shutdownGracePeriod(Duration.ofMillis(Math.max(100, config.shutdownGraceMs())))
                // the owner stops the frontend (close()), in order with the workers behind it
                .shutdownHook(false)
                .directHandlers(directHandlers(config.maxBodyBytes()))
                .routing(this::routes)
                .build();
        long periodMs = watchdogPeriodMs();
        watchdog.scheduleAtFixedRate(this::cutOffStalledBodies, periodMs, periodMs, TimeUnit.MILLISECONDS);
    }

    /** Starts a frontend; returns once it listens. */
    public static FrontendServer start(FrontendConfig config, List<ServedModel> models, WorkerSet workers,
                                       WorkerSelector selector) {
        return start(config, models, workers, selector, DispatchConfig.defaults(), new DisaggMetrics(), null);
    }

    /**
     * Starts a frontend that splits requests between prefill and decode workers as
     * {@code dispatch} says; returns once it listens.
     *
     * @param disagg     where disaggregation counters go; exported on {@code /metrics} (in one JVM
     *                   the workers count into the same object, so their transfers show there too)
     * @param activePins pins held by prefill workers in this process, or null when they live elsewhere
     */
    public static FrontendServer start(FrontendConfig config, List<ServedModel> models, WorkerSet workers,
                                       WorkerSelector selector, DispatchConfig dispatch, DisaggMetrics disagg,
                                       IntSupplier activePins) {
        FrontendServer f = new FrontendServer(config, models, workers, selector, dispatch, disagg, activePins);
        f.server.start();
        if (!f.server.isRunning() || f.server.port() < 0) {
            // Helidon logs the cause (an address in use, a host that is not this machine's) and
            // goes on without a listener: a frontend that cannot listen must not look started
            f.close();
            throw new ConfigException("the frontend cannot listen on " + config.host() + ":" + config.port()
                    + " (is the port in use by another process, or the host not an address of this machine?)");
        }
        LOG.log(System.Logger.Level.INFO, "frontend listening on {0}, models {1}", f.url(),
                f.models.stream().map(ServedModel::name).toList());
        return f;
    }

    /** The port it listens on (the real one when configured with 0). */
    public int port() {
        return server.port();
    }

    /** {@code http://host:port}. */
    public String url() {
        String host = config.host().contains(":") ? "[" + config.host() + "]" : config.host();
        return "http://" + host + ":" + port();
    }

    public WorkerSet workers() {
        return workers;
    }

    /** True when every served model has at least one worker and the server is not shutting down. */
    public boolean ready() {
        return !closing && models.stream().allMatch(m -> !workers.servingModel(m.name()).isEmpty());
    }

    /** Requests being served right now (queued or running). */
    public int inFlight() {
        return inFlight.get();
    }

    /** Requests waiting in the admission queue. */
    public int queued() {
        return admission.queued();
    }

    /** Engine sequences admitted and running. */
    public int runningSequences() {
        return admission.running();
    }

    /**
     * Shuts down: new requests get 503, running ones have the grace period to finish, then are
     * cancelled; the listener stops. Idempotent. Workers are not closed (their owner does that).
     */
    @Override
    public void close() {
        if (closing) {
            return;
        }
        closing = true;
        admission.close();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.shutdownGraceMs());
        while (inFlight.get() > 0 && System.nanoTime() < deadline) {
            sleepQuietly(10);
        }
        if (!active.isEmpty()) {
            LOG.log(System.Logger.Level.WARNING, "cancelling {0} requests still running at shutdown", active.size());
            for (Generation g : active) {
                g.cancelAll();
            }
        }
        // Cancelled requests end within one engine step; give their handlers a moment to answer.
        long cancelDeadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(2);
        while (inFlight.get() > 0 && System.nanoTime() < cancelDeadline) {
            sleepQuietly(10);
        }
        server.stop();
        watchdog.shutdownNow();
        LOG.log(System.Logger.Level.INFO, "frontend stopped");
    }

    // ---- routing -------------------------------------------------------------------------------

    private void routes(HttpRouting.Builder r) {
        r.addFilter(this::closeWhenAsked);
        r.post(Endpoint.CHAT.path(), (req, res) -> generate(Endpoint.CHAT, req, res))
                .post(Endpoint.COMPLETIONS.path(), (req, res) -> generate(Endpoint.COMPLETIONS, req, res))
                .get("/v1/models", this::listModels)
                .get("/health", (req, res) -> json(res, 200, HEALTHY))
                .get("/ready", this::readiness)
                .get("/metrics", this::scrape);
        for (String path : List.of(Endpoint.CHAT.path(), Endpoint.COMPLETIONS.path())) {
            r.any(path, (req, res) -> methodNotAllowed(req, res, "POST"));
        }
        for (String path : List.of("/v1/models", "/health", "/ready", "/metrics")) {
            r.any(path, (req, res) -> methodNotAllowed(req, res, "GET"));
        }
        r.any((req, res) -> error(res, ApiException.pathNotFound(req.prologue().method().text(),
                req.path().rawPath())));
        r.error(Throwable.class, (req, res, t) -> {
            LOG.log(System.Logger.Level.WARNING, "unexpected failure serving " + req.path().rawPath(), t);
            error(res, ApiException.internal("internal error: " + t));
        });
    }

    /**
     * Closes the connection after the response when the client asked for it ({@code Connection:
     * close}) or the request's body was not read to its end (413 before the body, 408): Helidon
     * would otherwise keep the socket open, or read the rest of the body as the next request.
     */
    private void closeWhenAsked(FilterChain chain, RoutingRequest req, RoutingResponse res) {
        CLOSE_AFTER.remove();
        try {
            chain.proceed();
        } finally {
            boolean close = CLOSE_AFTER.get() != null
                    || req.headers().first(HeaderNames.CONNECTION).map(v -> v.equalsIgnoreCase("close")).orElse(false);
            CLOSE_AFTER.remove();
            if (close) {
                throw new CloseConnectionException("connection closed after the response");
            }
        }
    }

    private void generate(Endpoint endpoint, ServerRequest req, ServerResponse res) {
        long startNs = System.nanoTime();
        inFlight.incrementAndGet();
        int status = 500;
        try {
            if (closing) {
                throw ApiException.unavailable("The server is shutting down");
            }
            RESPONSE.set(res);
            checkApiKey(req);
            CompletionSpec spec = RequestParser.parse(endpoint, readBody(req));
            status = completions.serve(spec, res, startNs);
        } catch (ApiException e) {
            status = e.status();
            if (CLOSE_AFTER.get() != null && !res.isSent()) {
                res.header(HeaderNames.CONNECTION, "close");
            }
            error(res, e);
        } catch (BodyAbandoned e) {
            status = CompletionHandler.CLIENT_CLOSED;
            throw e;
        } catch (CloseConnectionException e) {
            status = CompletionHandler.CLIENT_CLOSED; // the connection went away under the request
            throw e;
        } finally {
            RESPONSE.remove();
            inFlight.decrementAndGet();
            metrics.requestFinished(endpoint.label(), status, (System.nanoTime() - startNs) / 1e9);
        }
    }

    private void listModels(ServerRequest req, ServerResponse res) {
        try {
            checkApiKey(req);
            json(res, 200, ResponseWriter.models(models.stream().map(ServedModel::name).toList(), startedSeconds));
        } catch (ApiException e) {
            error(res, e);
        }
    }

    private void readiness(ServerRequest req, ServerResponse res) {
        if (ready()) {
            json(res, 200, READY);
        } else {
            error(res, ApiException.unavailable(closing ? "The server is shutting down"
                    : "No worker serves the model yet"));
        }
    }

    private void scrape(ServerRequest req, ServerResponse res) {
        res.header(HeaderNames.CONTENT_TYPE, FrontendMetrics.contentType());
        res.send(metrics.scrape());
    }

    private void methodNotAllowed(ServerRequest req, ServerResponse res, String allowed) {
        res.header(HeaderNames.ALLOW, allowed);
        error(res, ApiException.methodNotAllowed(req.prologue().method().text(), req.path().rawPath()));
    }

    private static void json(ServerResponse res, int status, byte[] body) {
        res.status(Status.create(status));
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(body);
    }

    private static void error(ServerResponse res, ApiException e) {
        if (res.isSent()) {
            return;
        }
        json(res, e.status(), ResponseWriter.errorBody(e));
    }

    /** OpenAI-shaped bodies for the errors Helidon answers before routing (bad HTTP, 413). */
    private static DirectHandlers directHandlers(long maxBodyBytes) {
        DirectHandler handler = (request, eventType, status, headers, message) -> {
            ApiException e = status.code() == 413 ? ApiException.tooLarge(maxBodyBytes)
                    : new ApiException(status.code(), status.code() < 500 ? "invalid_request_error" : "server_error",
                            null, null, message == null || message.isBlank() ? status.reasonPhrase() : message);
            return DirectHandler.TransportResponse.builder()
                    .status(status)
                    .headers(headers)
                    .header(HeaderNames.CONTENT_TYPE, "application/json")
                    .entity(ResponseWriter.errorBody(e))
                    .build();
        };
        DirectHandlers.Builder b = DirectHandlers.builder();
        for (DirectHandler.EventType type : DirectHandler.EventType.values()) {
            b.addHandler(type, handler);
        }
        return b.build();
    }

    // ---- services for the handlers -------------------------------------------------------------

    FrontendConfig config() {
        return config;
    }

    FrontendMetrics metrics() {
        return metrics;
    }

    String newRequestId(Endpoint endpoint) {
        return endpoint.idPrefix() + idPrefix + "-" + requestCounter.incrementAndGet();
    }

    /** 401 unless no key is configured or the request carries {@code Authorization: Bearer <key>}. */
    void checkApiKey(ServerRequest req) {
        String key = config.apiKey();
        if (key == null) {
            return;
        }
        String auth = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
        byte[] expected = ("Bearer " + key).getBytes(StandardCharsets.UTF_8);
        if (!MessageDigest.isEqual(expected, auth.trim().getBytes(StandardCharsets.UTF_8))) {
            throw ApiException.unauthorized();
        }
    }

    /**
     * The whole body, at most {@code maxBodyBytes}.
     *
     * <p>Too large: with {@code Expect: 100-continue} the 413 goes out before any of the body (the
     * connection is closed after it); otherwise the body is read and dropped up to the drain limit
     * ({@link #drainLimit}), so that a client which sends everything before it reads (Python's
     * urllib, many SDKs) gets the 413 instead of a reset. Larger declared lengths get Helidon's 413
     * before routing.
     *
     * <p>A client that has not sent its body within the read timeout gets 408 and the connection is
     * closed: the watchdog interrupts the reading virtual thread (Helidon sets no read timeout on
     * accepted sockets, and a stalled body would otherwise hold the request forever). Registering
     * costs a set insert and removal: no timer per request, and no wake-up of the watchdog thread
     * (scheduling and cancelling a timer per request did both).
     */
    byte[] readBody(ServerRequest req) {
        long limit = config.maxBodyBytes();
        long declared = req.headers().contentLength().orElse(-1);
        if (declared > limit && req.headers().first(HeaderNames.EXPECT)
                .map(v -> v.equalsIgnoreCase("100-continue")).orElse(false)) {
            CLOSE_AFTER.set(Boolean.TRUE);
            throw ApiException.tooLarge(limit);
        }
        BodyRead read = new BodyRead(Thread.currentThread(), RESPONSE.get(),
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.readTimeoutMs()));
        bodyReads.add(read);
        try (InputStream in = req.content().inputStream()) {
            byte[] body = declared > limit ? new byte[0] : in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (declared > limit || body.length > limit) {
                if (!drain(in, drainLimit(limit))) {
                    CLOSE_AFTER.set(Boolean.TRUE); // the rest of the body is still on the way
                }
                if (read.state.compareAndSet(BODY_READING, BODY_DONE)) {
                    throw ApiException.tooLarge(limit);
                }
                throw slowClient();
            }
            if (read.state.compareAndSet(BODY_READING, BODY_DONE)) {
                return body;
            }
            throw slowClient();
        } catch (IOException | RuntimeException e) {
            if (e instanceof ApiException || e instanceof CloseConnectionException) {
                throw (RuntimeException) e;
            }
            if (read.state.get() == BODY_TIMED_OUT) {
                throw slowClient();
            }
            if (e instanceof RuntimeException re && !(re instanceof UncheckedIOException)
                    && !(re instanceof DataReader.InsufficientDataAvailableException)) {
                throw re;
            }
            // the client closed (or reset) the connection before its body was complete
            LOG.log(System.Logger.Level.DEBUG, "client closed the connection before sending its whole body (499): {0}",
                    e.toString());
            throw new BodyAbandoned(e);
        } finally {
            read.state.compareAndSet(BODY_READING, BODY_DONE);
            bodyReads.remove(read);
        }
    }

    /** The most body bytes read and dropped to answer 413 readably: 4 x the limit, at least 16 MiB, at most 1 GiB. */
    static long drainLimit(long maxBodyBytes) {
        return Math.min(1L << 30, Math.max(16L << 20, 4 * maxBodyBytes));
    }

    /** Reads and drops the rest of a body, at most {@code max} bytes; true if it reached the end. */
    private static boolean drain(InputStream in, long max) throws IOException {
        byte[] buffer = new byte[64 * 1024];
        long total = 0;
        try {
            while (total < max) {
                int n = in.read(buffer, 0, (int) Math.min(buffer.length, max - total));
                if (n < 0) {
                    return true;
                }
                total += n;
            }
            return in.read() < 0;
        } catch (RuntimeException e) {
            return false; // a chunked body past Helidon's payload limit
        }
    }

    /** The client went away while sending its body: counted as 499, the connection is closed, nothing is answered. */
    private static final class BodyAbandoned extends CloseConnectionException {
        BodyAbandoned(Exception cause) {
            super("client closed the connection before sending its whole body", cause);
        }
    }

    /** One body being read: its thread, its response (null outside a generation request), its deadline and whether the watchdog fired. */
    private static final class BodyRead {
        final Thread reader;
        final ServerResponse response;
        final long deadlineNs;
        /** BODY_READING until the reader finishes (BODY_DONE) or the watchdog fires (BODY_TIMED_OUT). */
        final AtomicInteger state = new AtomicInteger(BODY_READING);

        BodyRead(Thread reader, ServerResponse response, long deadlineNs) {
            this.reader = reader;
            this.response = response;
            this.deadlineNs = deadlineNs;
        }
    }

    /**
     * Watchdog tick: answers 408 to every reader past its deadline, then interrupts it (a slow
     * client is cut off at most one period late). The answer is written from this thread because
     * interrupting a thread blocked on a socket closes the socket: the reader cannot answer after.
     * The reader touches the response again only after its read returns, and then finds it sent.
     */
    private void cutOffStalledBodies() {
        long now = System.nanoTime();
        int cut = headerDeadlines.cutOff(now);
        if (cut > 0) {
            LOG.log(System.Logger.Level.INFO, "closed {0} connection(s) that sent no complete headers within {1} ms",
                    cut, config.readTimeoutMs());
        }
        for (BodyRead r : bodyReads) {
            if (now - r.deadlineNs >= 0 && r.state.compareAndSet(BODY_READING, BODY_TIMED_OUT)) {
                if (r.response != null) {
                    try {
                        r.response.header(HeaderNames.CONNECTION, "close");
                        json(r.response, 408, ResponseWriter.errorBody(requestTimeout()));
                    } catch (RuntimeException e) {
                        LOG.log(System.Logger.Level.DEBUG, "could not answer 408 to a slow client: {0}", e.toString());
                    }
                }
                r.reader.interrupt();
            }
        }
    }

    private ApiException requestTimeout() {
        return new ApiException(408, "invalid_request_error", "request_timeout", null,
                "The request body was not received within " + config.readTimeoutMs() + " ms");
    }

    /** A quarter of the read timeout, between 10 ms and 250 ms. */
    private long watchdogPeriodMs() {
        return Math.clamp(config.readTimeoutMs() / 4, 10, 250);
    }

    /** 408 for a body not received within the read timeout; the connection is closed after it. */
    private ApiException slowClient() {
        Thread.interrupted();
        CLOSE_AFTER.set(Boolean.TRUE);
        LOG.log(System.Logger.Level.INFO, "client sent no complete body within {0} ms: 408, connection closed",
                config.readTimeoutMs());
        return requestTimeout();
    }

    /** The served model a request names (or the only one, if it names none). */
    ServedModel resolveModel(String name) {
        if (name == null) {
            if (models.size() == 1) {
                return models.getFirst();
            }
            throw ApiException.invalid("model", "'model' is required: this server serves "
                    + models.stream().map(ServedModel::name).toList());
        }
        for (ServedModel m : models) {
            if (m.name().equals(name)) {
                return m;
            }
        }
        throw ApiException.modelNotFound(name);
    }

    /** Waits for admission; 429 when the queue is full, 503 on timeout or shutdown. */
    Permit admit(int sequences) {
        try {
            return switch (admission.enter(sequences, TimeUnit.MILLISECONDS.toNanos(config.queueTimeoutMs()))) {
                case AdmissionQueue.Admitted a -> a.permit();
                case AdmissionQueue.QueueFull q -> throw ApiException.overloaded(admission.maxQueued());
                case AdmissionQueue.TimedOut t -> throw ApiException.unavailable(
                        "Timed out after " + config.queueTimeoutMs() + " ms in the admission queue; retry later");
                case AdmissionQueue.Closed c -> throw ApiException.unavailable("The server is shutting down");
            };
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("The server is shutting down");
        }
    }

    private static void sleepQuietly(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
