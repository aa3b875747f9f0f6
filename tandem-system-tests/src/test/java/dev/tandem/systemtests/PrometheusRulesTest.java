package dev.tandem.systemtests;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * deploy/prometheus checked by Prometheus' own tool: the configuration and rule files are valid,
 * and every alert fires and stays quiet as its unit tests (tests/alerts_test.yml) say.
 */
@Timeout(120)
class PrometheusRulesTest {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @Test
    void configuration_isValid(@TempDir Path dir) throws IOException {
        Path config = Prometheus.copyConfig(dir, 15);
        Files.writeString(config.resolveSibling("targets").resolve("example.json"),
                Files.readString(Prometheus.CONFIG_DIR.resolve("targets").resolve("example.json.sample")));

        Prometheus.Run run = Prometheus.promtool(config.getParent(), "check", "config", config.toString());

        assertThat(run.exitCode()).as(run.output()).isZero();
        assertThat(run.output()).contains("SUCCESS: 2 rule files found").doesNotContain("WARNING");
    }

    @Test
    void ruleFiles_areValid() {
        Prometheus.Run run = Prometheus.promtool(Prometheus.CONFIG_DIR, "check", "rules", "rules.yml", "alerts.yml");

        assertThat(run.exitCode()).as(run.output()).isZero();
    }

    @Test
    void alertUnitTests_pass() {
        Prometheus.Run run = Prometheus.promtool(Prometheus.CONFIG_DIR, "test", "rules", "tests/alerts_test.yml");

        assertThat(run.exitCode()).as(run.output()).isZero();
        assertThat(run.output()).contains("SUCCESS");
    }

    @Test
    void everyAlert_hasAFiringUnitTest() throws IOException {
        Set<String> alerts = new TreeSet<>();
        for (JsonNode group : YAML.readTree(Prometheus.CONFIG_DIR.resolve("alerts.yml").toFile()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                alerts.add(rule.path("alert").asText());
            }
        }
        Set<String> firing = new TreeSet<>();
        JsonNode tests = YAML.readTree(Prometheus.CONFIG_DIR.resolve("tests").resolve("alerts_test.yml").toFile());
        for (JsonNode t : tests.path("tests")) {
            for (JsonNode a : t.path("alert_rule_test")) {
                if (!a.path("exp_alerts").isEmpty()) {
                    firing.add(a.path("alertname").asText());
                }
            }
        }

        assertThat(alerts).hasSizeGreaterThanOrEqualTo(10);
        assertThat(firing).containsAll(alerts);
    }

    /** Every recording rule's name, in file order (also used by the cluster test). */
    static List<String> recordingRules() throws IOException {
        List<String> names = new ArrayList<>();
        for (JsonNode group : YAML.readTree(Prometheus.CONFIG_DIR.resolve("rules.yml").toFile()).path("groups")) {
            for (JsonNode rule : group.path("rules")) {
                if (rule.has("record")) {
                    names.add(rule.path("record").asText());
                }
            }
        }
        return names;
    }
}
