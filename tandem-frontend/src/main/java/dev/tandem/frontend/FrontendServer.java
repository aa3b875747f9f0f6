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
import io.helidon.webserver.http.DirectHandlers;
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
        this.completions = new CompletionHandler(config, this::resolveModel, workers, selector,
                new Dispatcher(dispatch, selector, workers, disagg),
                this::admit, this::newRequestId, active, metrics);
        this.server = WebServer.builder()
                .host(config.host())
                .port(config.port())
                .connectionOptions(o -> o.tcpNoDelay(true))
                .maxPayloadSize(config.maxBodyBytes())
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

    private void generate(Endpoint endpoint, ServerRequest req, ServerResponse res) {
        long startNs = System.nanoTime();
        inFlight.incrementAndGet();
        int status = 500;
        try {
            if (closing) {
                throw ApiException.unavailable("The server is shutting down");
            }
            checkApiKey(req);
            CompletionSpec spec = RequestParser.parse(endpoint, readBody(req));
            status = completions.serve(spec, res, startNs);
        } catch (ApiException e) {
            status = e.status();
            error(res, e);
        } catch (BodyAbandoned e) {
            status = CompletionHandler.CLIENT_CLOSED;
            throw e;
        } catch (CloseConnectionException e) {
            status = 408;
            throw e;
        } finally {
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
     * The whole body, at most {@code maxBodyBytes} (Helidon refuses larger declared lengths before
     * routing). A client that has not sent its body within the read timeout is cut off: the
     * watchdog interrupts the reading virtual thread, which closes the socket (Helidon sets no read
     * timeout on accepted sockets, and a stalled body would otherwise hold the request forever).
     * Registering costs a set insert and removal: no timer per request, and no wake-up of the
     * watchdog thread (scheduling and cancelling a timer per request did both).
     */
    byte[] readBody(ServerRequest req) {
        long limit = config.maxBodyBytes();
        BodyRead read = new BodyRead(Thread.currentThread(),
                System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.readTimeoutMs()));
        bodyReads.add(read);
        try (InputStream in = req.content().inputStream()) {
            byte[] body = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
            if (body.length > limit) {
                throw ApiException.tooLarge(limit);
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
            LOG.log(System.Logger.Level.INFO, "client closed the connection before sending its whole body (499): {0}",
                    e.toString());
            throw new BodyAbandoned(e);
        } finally {
            read.state.compareAndSet(BODY_READING, BODY_DONE);
            bodyReads.remove(read);
        }
    }

    /** The client went away while sending its body: counted as 499, the connection is closed, nothing is answered. */
    private static final class BodyAbandoned extends CloseConnectionException {
        BodyAbandoned(Exception cause) {
            super("client closed the connection before sending its whole body", cause);
        }
    }

    /** One body being read: its thread, its deadline and whether the watchdog fired. */
    private static final class BodyRead {
        final Thread reader;
        final long deadlineNs;
        /** BODY_READING until the reader finishes (BODY_DONE) or the watchdog fires (BODY_TIMED_OUT). */
        final AtomicInteger state = new AtomicInteger(BODY_READING);

        BodyRead(Thread reader, long deadlineNs) {
            this.reader = reader;
            this.deadlineNs = deadlineNs;
        }
    }

    /** Watchdog tick: interrupts every reader past its deadline (a slow client is cut off at most one period late). */
    private void cutOffStalledBodies() {
        long now = System.nanoTime();
        for (BodyRead r : bodyReads) {
            if (now - r.deadlineNs >= 0 && r.state.compareAndSet(BODY_READING, BODY_TIMED_OUT)) {
                r.reader.interrupt();
            }
        }
    }

    /** A quarter of the read timeout, between 10 ms and 250 ms. */
    private long watchdogPeriodMs() {
        return Math.clamp(config.readTimeoutMs() / 4, 10, 250);
    }

    private CloseConnectionException slowClient() {
        Thread.interrupted();
        LOG.log(System.Logger.Level.INFO, "client sent no complete body within {0} ms; connection closed",
                config.readTimeoutMs());
        return new CloseConnectionException("request body not received within " + config.readTimeoutMs() + " ms");
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
