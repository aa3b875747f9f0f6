package dev.tandem.cli.cluster;

import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.core.exc.StreamReadException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.PropertyNamingStrategies;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.tandem.core.ConfigException;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.worker.upstream.UpstreamConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * A local cluster for {@code tandem up}, read from YAML (see docs/cluster.example.yaml):
 * <pre>
 * name: demo                      # default: the file name; names the state directory
 * namespace: demo                 # default: the name
 * model: stories260K              # a .gguf path or a model name (default: stories260K)
 * lease_ttl_ms: 10000
 * frontend: { port: 8000, router: kv, args: [] }
 * workers:
 *   - { role: aggregated, count: 2, mock: false, args: [--kv-blocks, "512"] }
 *   - { upstream: "http://127.0.0.1:8081" }   # a worker adapting an external server
 *   - { upstream: "http://127.0.0.1:8100", role: prefill }   # vLLM (NixlConnector) prefilling for
 *   - { upstream: "http://127.0.0.1:8200", role: decode }    # a vLLM decode server
 *   - { upstream: "http://127.0.0.1:8082", args: [--upstream-kind, llama-server] }
 * jvm_options: [-Xmx1g]           # appended to every child JVM's flags
 * </pre>
 * Every field is validated here; an unknown field is an error that names it.
 *
 * @param name            cluster name: letters, digits, '_' and '-'
 * @param namespace       registry and event-plane namespace
 * @param model           the model every process uses, or null for the default
 * @param servedModelName the name clients use, or null for the file name
 * @param leaseTtlMs      workers' lease TTL, ms, or null for the default
 * @param frontend        the frontend
 * @param workers         worker groups, at least one
 * @param jvmOptions      extra flags for every child JVM
 */
public record ClusterFile(String name, String namespace, String model, String servedModelName, Long leaseTtlMs,
                          Frontend frontend, List<WorkerGroup> workers, List<String> jvmOptions) {
    /** Most workers one local cluster starts. */
    public static final int MAX_WORKERS = 64;

    /**
     * @param port   the OpenAI API port, 0 for any free one; default 8000
     * @param router routing policy; default kv
     * @param args   more {@code tandem frontend} options
     */
    public record Frontend(Integer port, String router, List<String> args) {
        public Frontend {
            port = port == null ? 8000 : port;
            router = router == null ? "kv" : router;
            args = args == null ? List.of() : List.copyOf(args);
            if (port < 0 || port > 65535) {
                throw new ConfigException("frontend.port must be in [0, 65535], got " + port);
            }
        }
    }

    /**
     * @param role  aggregated, prefill or decode; default aggregated
     * @param count how many workers like this; default 1
     * @param mock  SIMULATED engines (mock timing model) instead of the real one; default false
     * @param args  more {@code tandem worker} options (e.g. --kv-blocks, --threads)
     * @param upstream an external server (llama-server, vLLM, SGLang, OpenAI-compatible) the worker
     *              adapts instead of running an engine ({@code tandem worker --upstream}); one
     *              worker per entry (aggregated, or prefill/decode for vLLM servers with the
     *              NixlConnector: the worker refuses other kinds), its args may add
     *              {@code --upstream-kind}, {@code --upstream-timeout-ms}, {@code --kv-events}; or null
     */
    public record WorkerGroup(String role, Integer count, Boolean mock, List<String> args, String upstream) {
        public WorkerGroup(String role, Integer count, Boolean mock, List<String> args) {
            this(role, count, mock, args, null);
        }

        public WorkerGroup {
            role = role == null ? "aggregated" : role;
            WorkerRole.parse(role);
            count = count == null ? 1 : count;
            mock = mock != null && mock;
            args = args == null ? List.of() : List.copyOf(args);
            if (count < 1) {
                throw new ConfigException("workers[].count must be at least 1, got " + count);
            }
            if (upstream != null) {
                if (count != 1 || mock) {
                    throw new ConfigException("workers[] with upstream '" + upstream + "' is one worker adapting "
                            + "that server: count must be 1 and mock false (one entry per server)");
                }
                try {
                    UpstreamConfig.of(upstream, null); // kind: detected by the worker
                } catch (ConfigException e) {
                    throw new ConfigException("workers[].upstream must be an http(s)://host:port URL, got '"
                            + upstream + "'");
                }
            }
        }

        public WorkerRole workerRole() {
            return WorkerRole.parse(role);
        }
    }

    public ClusterFile {
        if (name == null || !WorkerRecord.ID_PATTERN.matcher(name).matches()) {
            throw new ConfigException("cluster name '" + name + "' must be 1..128 letters, digits, '_' or '-'");
        }
        namespace = namespace == null ? name : namespace;
        if (!WorkerRecord.ID_PATTERN.matcher(namespace).matches()) {
            throw new ConfigException("namespace '" + namespace + "' must be 1..128 letters, digits, '_' or '-'");
        }
        if (leaseTtlMs != null && (leaseTtlMs < 1_000 || leaseTtlMs > 300_000)) {
            throw new ConfigException("lease_ttl_ms must be in [1000, 300000], got " + leaseTtlMs);
        }
        frontend = frontend == null ? new Frontend(null, null, null) : frontend;
        if (workers == null || workers.isEmpty()) {
            throw new ConfigException("the cluster needs at least one entry under 'workers'");
        }
        workers = List.copyOf(workers);
        int total = workers.stream().mapToInt(WorkerGroup::count).sum();
        if (total > MAX_WORKERS) {
            throw new ConfigException("the cluster asks for " + total + " workers; at most " + MAX_WORKERS);
        }
        jvmOptions = jvmOptions == null ? List.of() : List.copyOf(jvmOptions);
    }

    /** Total workers over every group. */
    public int workerCount() {
        return workers.stream().mapToInt(WorkerGroup::count).sum();
    }

    /** Reads and validates a cluster file. */
    public static ClusterFile read(Path file) {
        String text;
        try {
            text = Files.readString(file);
        } catch (IOException e) {
            throw new ConfigException("cannot read cluster file " + file + ": " + e.getMessage());
        }
        String defaultName = file.getFileName().toString().replaceFirst("\\.(ya?ml)$", "")
                .replaceAll("[^A-Za-z0-9_-]", "-");
        return parse(text, defaultName, file.toString());
    }

    /** Parses YAML text; {@code defaultName} names a cluster without a {@code name} field. */
    public static ClusterFile parse(String yaml, String defaultName, String source) {
        ObjectMapper mapper = new ObjectMapper(new YAMLFactory())
                .setPropertyNamingStrategy(PropertyNamingStrategies.SNAKE_CASE)
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES);
        if (yaml.isBlank()) {
            throw new ConfigException(source + " is empty");
        }
        Raw raw;
        try {
            raw = mapper.readValue(yaml, Raw.class);
        } catch (UnrecognizedPropertyException e) {
            String known = e.getKnownPropertyIds().stream().map(String::valueOf).sorted()
                    .collect(Collectors.joining(", "));
            throw new ConfigException(source + ": unknown field '" + e.getPropertyName() + "'" + where(e)
                    + " (known: " + known + ")");
        } catch (JsonMappingException e) {
            if (e.getCause() instanceof ConfigException ce) {
                throw new ConfigException(source + ": " + ce.getMessage());
            }
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof StreamReadException syntax) {
                    throw notYaml(source, syntax);
                }
            }
            throw new ConfigException(source + ": " + e.getOriginalMessage().lines().findFirst().orElse("") + where(e));
        } catch (IOException e) {
            throw notYaml(source, e);
        }
        if (raw == null) {
            throw new ConfigException(source + " is empty");
        }
        return new ClusterFile(raw.name != null ? raw.name : defaultName, raw.namespace, raw.model,
                raw.servedModelName, raw.leaseTtlMs, raw.frontend, raw.workers, raw.jvmOptions);
    }

    private static ConfigException notYaml(String source, Exception e) {
        return new ConfigException(source + ": not valid YAML: " + e.getMessage().lines().findFirst().orElse("").strip());
    }

    private static String where(JsonMappingException e) {
        List<String> path = new ArrayList<>();
        for (JsonMappingException.Reference r : e.getPath()) {
            path.add(r.getFieldName() != null ? r.getFieldName() : "[" + r.getIndex() + "]");
        }
        return path.isEmpty() ? "" : " at " + String.join(".", path).replace(".[", "[").toLowerCase(Locale.ROOT);
    }

    /** The YAML document as written. */
    static final class Raw {
        @JsonProperty
        String name;
        @JsonProperty
        String namespace;
        @JsonProperty
        String model;
        @JsonProperty
        String servedModelName;
        @JsonProperty
        Long leaseTtlMs;
        @JsonProperty
        Frontend frontend;
        @JsonProperty
        List<WorkerGroup> workers;
        @JsonProperty
        List<String> jvmOptions;
    }
}
