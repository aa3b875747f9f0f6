package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.Namespace;
import io.fabric8.kubernetes.api.model.PersistentVolumeClaim;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Probe;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.Volume;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.openshift.api.model.monitoring.v1.ServiceMonitor;
import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * deploy/kubernetes parsed into the Kubernetes object models (fabric8's, generated from the
 * Kubernetes OpenAPI schemas; the ServiceMonitor from the Prometheus Operator's CRD), strictly:
 * a field the schema does not know fails, as a wrong type does. Then the deployment's own rules:
 * selectors match their pods, probes name real ports, workers are ready on {@code /ready} and get
 * longer to stop than their drain, claims exist. No cluster runs here; {@code kustomize build} is
 * not run either (the overlays' files are checked one by one).
 */
class KubernetesManifestsTest {
    private static final Path ROOT = Path.of("..", "deploy", "kubernetes").toAbsolutePath().normalize();
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory())
            .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);
    private static final Map<String, Class<? extends HasMetadata>> KINDS = Map.of(
            "v1/Service", Service.class,
            "v1/PersistentVolumeClaim", PersistentVolumeClaim.class,
            "v1/Namespace", Namespace.class,
            "apps/v1/Deployment", Deployment.class,
            "apps/v1/StatefulSet", StatefulSet.class,
            "monitoring.coreos.com/v1/ServiceMonitor", ServiceMonitor.class);

    /** Every object of every manifest under {@code dir} that is not a kustomization or a JSON patch. */
    private static List<HasMetadata> objects(Path dir) throws IOException {
        List<HasMetadata> out = new ArrayList<>();
        List<String> errors = new ArrayList<>();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path f : files.filter(p -> p.toString().endsWith(".yaml")).sorted().toList()) {
                if (f.getFileName().toString().equals("kustomization.yaml")) {
                    continue;
                }
                for (JsonNode doc : YAML.readValues(YAML.createParser(f.toFile()), JsonNode.class).readAll()) {
                    if (doc.isArray()) {
                        continue; // a JSON patch, checked in overlays_referToFilesThatExist
                    }
                    String type = doc.path("apiVersion").asText() + "/" + doc.path("kind").asText();
                    Class<? extends HasMetadata> cls = KINDS.get(type);
                    if (cls == null) {
                        errors.add(ROOT.relativize(f) + ": no schema for " + type);
                        continue;
                    }
                    HasMetadata o = YAML.treeToValue(doc, cls);
                    requireKnownFields(o, ROOT.relativize(f) + ":" + type + "/" + o.getMetadata().getName(), errors);
                    out.add(o);
                }
            }
        }
        assertThat(errors).as("manifests that do not match the schemas").isEmpty();
        return out;
    }

    /**
     * The models keep fields the schema does not name in {@code additionalProperties} instead of
     * failing; walk every model object and report any.
     */
    private static void requireKnownFields(Object o, String path, List<String> errors) {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof Enum<?>) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                requireKnownFields(e, path + "[" + i++ + "]", errors);
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            m.forEach((k, v) -> requireKnownFields(v, path + "." + k, errors));
            return;
        }
        if (!o.getClass().getPackageName().startsWith("io.fabric8")) {
            return;
        }
        for (Method m : o.getClass().getMethods()) {
            if (m.getParameterCount() != 0 || !m.getName().startsWith("get") || Modifier.isStatic(m.getModifiers())
                    || m.getDeclaringClass() == Object.class || m.getName().equals("getClass")) {
                continue;
            }
            Object value;
            try {
                value = m.invoke(o);
            } catch (IllegalAccessException | InvocationTargetException e) {
                continue;
            }
            if (m.getName().equals("getAdditionalProperties")) {
                if (value instanceof Map<?, ?> extra && !extra.isEmpty()) {
                    errors.add(path + ": fields the schema does not know: " + extra.keySet());
                }
            } else {
                requireKnownFields(value, path + "." + Character.toLowerCase(m.getName().charAt(3))
                        + m.getName().substring(4), errors);
            }
        }
    }

    @Test
    void everyObject_matchesItsSchema() throws IOException {
        List<HasMetadata> all = objects(ROOT);

        assertThat(all).extracting(o -> o.getKind() + "/" + o.getMetadata().getName()).contains(
                "StatefulSet/tandem-etcd", "Deployment/tandem-nats", "Deployment/tandem-frontend",
                "Service/tandem-frontend", "Deployment/tandem-prefill", "Deployment/tandem-decode",
                "PersistentVolumeClaim/tandem-models", "ServiceMonitor/tandem-workers");
    }

    @Test
    void anUnknownField_isCaught() throws IOException {
        JsonNode doc = YAML.readTree("""
                apiVersion: apps/v1
                kind: Deployment
                metadata: {name: x}
                spec:
                  selector: {matchLabels: {a: b}}
                  template:
                    metadata: {labels: {a: b}}
                    spec:
                      containers: [{name: c, image: i, readinesProbe: {httpGet: {path: /ready, port: 1}}}]
                """);
        List<String> errors = new ArrayList<>();

        requireKnownFields(YAML.treeToValue(doc, Deployment.class), "x", errors);

        assertThat(errors).singleElement().asString().contains("containers[0]").contains("readinesProbe");
    }

    @Test
    void workloads_selectTheirPods_probeNamedPorts_andRequestResources() throws IOException {
        List<HasMetadata> all = objects(ROOT.resolve("base"));
        Set<String> claims = new TreeSet<>();
        all.stream().filter(o -> o instanceof PersistentVolumeClaim).forEach(o -> claims.add(o.getMetadata().getName()));
        List<PodTemplateSpec> templates = new ArrayList<>();
        for (HasMetadata o : all) {
            PodTemplateSpec t;
            Map<String, String> selector;
            if (o instanceof Deployment d) {
                t = d.getSpec().getTemplate();
                selector = d.getSpec().getSelector().getMatchLabels();
            } else if (o instanceof StatefulSet s) {
                t = s.getSpec().getTemplate();
                selector = s.getSpec().getSelector().getMatchLabels();
            } else {
                continue;
            }
            templates.add(t);
            String name = o.getMetadata().getName();
            assertThat(t.getMetadata().getLabels()).as(name).containsAllEntriesOf(selector);
            for (Container c : t.getSpec().getContainers()) {
                Set<String> ports = new TreeSet<>();
                c.getPorts().stream().map(ContainerPort::getName).forEach(ports::add);
                assertThat(c.getReadinessProbe()).as(name + " readiness probe").isNotNull();
                for (Probe p : Stream.of(c.getReadinessProbe(), c.getLivenessProbe(), c.getStartupProbe())
                        .filter(p -> p != null).toList()) {
                    assertThat(ports).as(name + " probe port").contains(p.getHttpGet().getPort().getStrVal());
                }
                assertThat(c.getResources().getRequests()).as(name + " requests").containsKeys("cpu", "memory");
                assertThat(c.getResources().getLimits()).as(name + " memory limit").containsKey("memory");
            }
            for (Volume v : t.getSpec().getVolumes()) {
                if (v.getPersistentVolumeClaim() != null) {
                    assertThat(claims).as(name).contains(v.getPersistentVolumeClaim().getClaimName());
                }
            }
        }
        for (HasMetadata o : all) {
            if (o instanceof Service s) {
                Map<String, String> selector = s.getSpec().getSelector();
                assertThat(templates).as("pods of Service " + s.getMetadata().getName())
                        .anyMatch(t -> t.getMetadata().getLabels().entrySet().containsAll(selector.entrySet()));
            }
        }
    }

    @Test
    void workers_areReadyOnReady_haveALease_andOutliveTheirDrain() throws IOException {
        List<Deployment> workers = objects(ROOT.resolve("base")).stream()
                .filter(o -> o instanceof Deployment d && "worker".equals(
                        d.getSpec().getTemplate().getMetadata().getLabels().get("app.kubernetes.io/component")))
                .map(Deployment.class::cast).toList();

        // tandem planner prints 'kubectl scale deployment/tandem-ROLE': one Deployment per pool
        assertThat(workers).extracting(d -> d.getMetadata().getName())
                .containsExactlyInAnyOrder("tandem-prefill", "tandem-decode");
        for (Deployment d : workers) {
            String role = d.getMetadata().getName().substring("tandem-".length());
            Container c = d.getSpec().getTemplate().getSpec().getContainers().getFirst();
            List<String> command = c.getCommand();
            assertThat(command).contains("worker", "--role=" + role, "--metrics-port=9400");
            assertThat(command).anyMatch(a -> a.startsWith("--lease-ttl-ms="));
            assertThat(c.getReadinessProbe().getHttpGet().getPath()).isEqualTo("/ready");
            long drainMs = command.stream().filter(a -> a.startsWith("--drain-timeout-ms="))
                    .mapToLong(a -> Long.parseLong(a.substring(a.indexOf('=') + 1))).findFirst().orElseThrow();
            long graceMs = d.getSpec().getTemplate().getSpec().getTerminationGracePeriodSeconds() * 1000;
            assertThat(graceMs).as(d.getMetadata().getName() + ": grace period vs drain").isGreaterThan(drainMs + 5_000);
            assertThat(d.getSpec().getTemplate().getMetadata().getLabels()).containsEntry("tandem.dev/role", role);
        }
    }

    @Test
    void kustomizations_listFilesThatExist_andEveryBaseFileIsListed() throws IOException {
        Set<String> known = Set.of("apiVersion", "kind", "namespace", "resources", "patches", "replicas", "labels",
                "images", "commonLabels");
        try (Stream<Path> files = Files.walk(ROOT)) {
            for (Path k : files.filter(p -> p.getFileName().toString().equals("kustomization.yaml")).toList()) {
                JsonNode doc = YAML.readTree(k.toFile());
                doc.fieldNames().forEachRemaining(f -> assertThat(known).as(k + " field").contains(f));
                for (JsonNode r : doc.path("resources")) {
                    assertThat(k.getParent().resolve(r.asText())).as(k + " resource").exists();
                }
                for (JsonNode p : doc.path("patches")) {
                    Path patch = k.getParent().resolve(p.path("path").asText());
                    assertThat(patch).as(k + " patch").exists();
                    JsonNode body = YAML.readTree(patch.toFile());
                    if (body.isArray()) {
                        for (JsonNode op : body) {
                            assertThat(op.path("op").asText()).isIn("add", "remove", "replace", "copy", "move", "test");
                            assertThat(op.path("path").asText()).startsWith("/");
                        }
                    }
                }
            }
        }
        JsonNode base = YAML.readTree(ROOT.resolve("base").resolve("kustomization.yaml").toFile());
        Set<String> listed = new TreeSet<>();
        base.path("resources").forEach(r -> listed.add(r.asText()));
        try (Stream<Path> files = Files.list(ROOT.resolve("base"))) {
            assertThat(files.map(p -> p.getFileName().toString()).filter(n -> !n.equals("kustomization.yaml")))
                    .allMatch(listed::contains);
        }
        // the overlays' patches parse strictly too (objects(ROOT) walks them)
        assertThat(objects(ROOT.resolve("overlays"))).isNotEmpty();
    }
}
