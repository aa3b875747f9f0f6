package dev.tandem.frontend.openai;

import dev.tandem.core.RequestException;
import dev.tandem.core.TandemException;

/**
 * A request the frontend answers with an OpenAI-shaped error:
 * {@code {"error": {"message", "type", "param", "code"}}} and an HTTP status.
 *
 * <p>The statuses the frontend uses: 400 bad input, 401 missing or wrong API key, 404 unknown model
 * or path, 405 wrong method, 413 body over the limit, 429 admission queue full, 500 a worker
 * failed, 503 no worker (or shutting down, or queue wait over). 499 (client gone) is never sent,
 * only logged and counted.
 */
public final class ApiException extends TandemException {
    private final int status;
    private final String type;
    private final String param;
    private final String code;

    public ApiException(int status, String type, String code, String param, String message) {
        super(message);
        this.status = status;
        this.type = type;
        this.code = code;
        this.param = param;
    }

    /** 400: the request is wrong; {@code param} names the field at fault (or null). */
    public static ApiException invalid(String param, String message) {
        return new ApiException(400, "invalid_request_error", null, param, message);
    }

    public static ApiException unauthorized() {
        return new ApiException(401, "invalid_request_error", "invalid_api_key", null,
                "Incorrect or missing API key: send it as 'Authorization: Bearer <key>'");
    }

    public static ApiException modelNotFound(String model) {
        return new ApiException(404, "invalid_request_error", "model_not_found", "model",
                "The model '" + model + "' does not exist");
    }

    public static ApiException pathNotFound(String method, String path) {
        return new ApiException(404, "invalid_request_error", "not_found", null,
                "Invalid URL (" + method + " " + path + ")");
    }

    public static ApiException methodNotAllowed(String method, String path) {
        return new ApiException(405, "invalid_request_error", "method_not_allowed", null,
                "Invalid method for URL (" + method + " " + path + ")");
    }

    public static ApiException tooLarge(long limitBytes) {
        return new ApiException(413, "invalid_request_error", "request_too_large", null,
                "Request body is larger than the limit of " + limitBytes + " bytes");
    }

    public static ApiException overloaded(int maxQueued) {
        return new ApiException(429, "rate_limit_error", "rate_limit_exceeded", null,
                "The server is overloaded: the admission queue is full (" + maxQueued
                        + " requests waiting); retry later");
    }

    public static ApiException unavailable(String message) {
        return new ApiException(503, "server_error", "service_unavailable", null, message);
    }

    public static ApiException internal(String message) {
        return new ApiException(500, "server_error", null, null, message);
    }

    /** Maps an engine's or the core's request error to the status a client can act on. */
    public static ApiException from(RequestException e) {
        return switch (e.kind()) {
            case INVALID -> invalid(e.param(), e.getMessage());
            case UNAVAILABLE, CANCELLED, TIMEOUT, WORKER_LOST -> unavailable(e.getMessage());
            case OVERLOADED -> new ApiException(429, "rate_limit_error", "rate_limit_exceeded", null, e.getMessage());
            case INTERNAL -> internal(e.getMessage());
        };
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    /** The request field at fault, or null. */
    public String param() {
        return param;
    }

    /** A machine-readable code, or null. */
    public String code() {
        return code;
    }
}
