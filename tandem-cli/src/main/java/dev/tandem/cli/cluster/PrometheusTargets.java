package dev.tandem.cli.cluster;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * The Prometheus file service-discovery targets of a local cluster ({@code file_sd_configs}):
 * one group for the frontend and one per worker, labelled {@code cluster}, {@code component}
 * ({@code frontend} or {@code worker}), and for workers {@code role} and {@code worker}. Written
 * atomically (a temp file moved over the old one) so Prometheus never reads half a file; it
 * rereads the file when it changes, so workers added or removed by the planner appear and go.
 *
 * <pre>
 * [{"targets": ["127.0.0.1:8000"], "labels": {"cluster": "demo", "component": "frontend"}},
 *  {"targets": ["127.0.0.1:41234"], "labels": {"cluster": "demo", "component": "worker",
 *                                               "role": "decode", "worker": "demo-decode-1"}}]
 * </pre>
 */
public final class PrometheusTargets {
    /** The file's name in the cluster's state directory. */
    public static final String FILE = "prometheus-targets.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    /** One worker's metrics endpoint. */
    public record WorkerTarget(String id, String role, String metricsUrl) {
    }

    private PrometheusTargets() {
    }

    /** Writes the targets of {@code frontendUrl} and {@code workers} to {@code dir/FILE}. */
    public static Path write(Path dir, String cluster, String frontendUrl, List<WorkerTarget> workers) {
        ArrayNode groups = JSON.createArrayNode();
        if (!frontendUrl.isEmpty()) {
            labels(groups, hostPort(frontendUrl)).put("cluster", cluster).put("component", "frontend");
        }
        for (WorkerTarget w : workers) {
            labels(groups, hostPort(w.metricsUrl())).put("cluster", cluster).put("component", "worker").put("role", w.role())
                    .put("worker", w.id());
        }
        Path file = dir.resolve(FILE);
        try {
            Path tmp = Files.createTempFile(dir, FILE, ".tmp");
            Files.writeString(tmp, JSON.writerWithDefaultPrettyPrinter().writeValueAsString(groups));
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
        return file;
    }

    /** Adds a group for {@code target}; returns its (empty) labels. */
    private static ObjectNode labels(ArrayNode groups, String target) {
        ObjectNode g = groups.addObject();
        g.putArray("targets").add(target);
        return g.putObject("labels");
    }

    /** {@code http://host:port/...} to {@code host:port}. */
    static String hostPort(String url) {
        URI u = URI.create(url);
        return u.getHost() + ":" + u.getPort();
    }
}
