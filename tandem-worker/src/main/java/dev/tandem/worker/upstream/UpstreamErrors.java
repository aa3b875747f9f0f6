package dev.tandem.worker.upstream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestException.Kind;
import java.io.IOException;
import java.net.ConnectException;
import java.net.SocketTimeoutException;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpTimeoutException;

/**
 * An upstream server's failures in Tandem's terms. Error bodies are OpenAI's shape
 * ({@code {"error": {"message", "type", "code"}}}, which llama-server, vLLM and SGLang answer) or
 * FastAPI's ({@code {"detail": ...}}), or anything else (quoted, shortened).
 *
 * <table>
 *   <caption>status and failure to kind</caption>
 *   <tr><th>upstream</th><th>kind</th></tr>
 *   <tr><td>400, 404, 413, 422; type {@code invalid_request_error}, {@code exceed_context_size_error}</td><td>INVALID</td></tr>
 *   <tr><td>429, 503 (busy, loading)</td><td>UNAVAILABLE</td></tr>
 *   <tr><td>any other status</td><td>INTERNAL</td></tr>
 *   <tr><td>refused or dropped connection, stream cut before its end</td><td>WORKER_LOST</td></tr>
 *   <tr><td>no response headers within the deadline</td><td>TIMEOUT</td></tr>
 * </table>
 */
final class UpstreamErrors {
    private static final int MAX_QUOTED = 300;

    private UpstreamErrors() {
    }

    /** The error a non-200 answer means. */
    static RequestException fromStatus(String server, int status, String body, ObjectMapper json) {
        String message = message(body, json);
        Kind kind = switch (status) {
            case 400, 404, 413, 422 -> Kind.INVALID;
            case 429, 503 -> Kind.UNAVAILABLE;
            default -> Kind.INTERNAL;
        };
        String param = kind == Kind.INVALID && message.contains("context") ? "max_tokens" : null;
        return new RequestException(kind, "upstream " + server + " answered " + status + ": " + message, param, null);
    }

    /** The error an {@code error} object inside a stream means (llama-server sends them as data). */
    static RequestException fromStreamError(String server, JsonNode error) {
        int code = error.path("code").asInt(500);
        String type = error.path("type").asText("");
        String message = error.path("message").asText(error.toString());
        Kind kind = type.contains("invalid") || type.contains("exceed") || code == 400 ? Kind.INVALID
                : code == 503 || code == 429 ? Kind.UNAVAILABLE : Kind.INTERNAL;
        return new RequestException(kind, "upstream " + server + " failed: " + quote(message), null, null);
    }

    /** A transport failure: the server is gone (WORKER_LOST) or too slow (TIMEOUT). */
    static RequestException fromTransport(String server, Throwable cause) {
        Throwable t = cause;
        while (t.getCause() != null && !(t instanceof IOException)) {
            t = t.getCause();
        }
        if (t instanceof HttpTimeoutException && !(t instanceof HttpConnectTimeoutException)
                || t instanceof SocketTimeoutException) {
            return new RequestException(Kind.TIMEOUT, "upstream " + server + " did not answer in time", null, t);
        }
        String why = t instanceof ConnectException ? "refused the connection" : "dropped the connection";
        return new RequestException(Kind.WORKER_LOST, "upstream " + server + " " + why + ": " + t, null, t);
    }

    /** The server sent something that is not its protocol. */
    static RequestException malformed(String server, String what) {
        return new RequestException(Kind.INTERNAL, "upstream " + server + " answered malformed data: " + quote(what),
                null, null);
    }

    private static String message(String body, ObjectMapper json) {
        if (body == null || body.isBlank()) {
            return "(no body)";
        }
        try {
            JsonNode root = json.readTree(body);
            JsonNode error = root.path("error");
            if (error.isObject() && error.hasNonNull("message")) {
                return quote(error.get("message").asText());
            }
            if (error.isTextual()) {
                return quote(error.asText());
            }
            if (root.hasNonNull("detail")) {
                return quote(root.get("detail").isTextual() ? root.get("detail").asText() : root.get("detail").toString());
            }
            if (root.hasNonNull("message")) {
                return quote(root.get("message").asText());
            }
        } catch (IOException | RuntimeException e) {
            // not JSON: quote it as it is
        }
        return quote(body);
    }

    static String quote(String text) {
        String t = text.strip();
        return t.length() <= MAX_QUOTED ? t : t.substring(0, MAX_QUOTED) + "...";
    }
}
