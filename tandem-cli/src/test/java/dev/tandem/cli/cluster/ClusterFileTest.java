package dev.tandem.cli.cluster;

import dev.tandem.core.ConfigException;
import dev.tandem.core.WorkerRole;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ClusterFileTest {
    @Test
    void read_documentedExample_parsesEveryField() {
        ClusterFile c = ClusterFile.read(exampleFile());

        assertThat(c.name()).isEqualTo("example");
        assertThat(c.namespace()).isEqualTo("example");
        assertThat(c.model()).isEqualTo("stories260K");
        assertThat(c.leaseTtlMs()).isEqualTo(5_000L);
        assertThat(c.frontend().port()).isEqualTo(8000);
        assertThat(c.frontend().router()).isEqualTo("kv");
        assertThat(c.workers()).hasSize(2);
        assertThat(c.workers().getFirst().workerRole()).isEqualTo(WorkerRole.AGGREGATED);
        assertThat(c.workers().getFirst().args()).containsExactly("--kv-blocks", "1024", "--threads", "1");
        assertThat(c.workers().get(1).mock()).isTrue();
        assertThat(c.workerCount()).isEqualTo(3);
        assertThat(c.jvmOptions()).containsExactly("-Xmx512m");
    }

    private static Path exampleFile() {
        Path p = Path.of("docs", "cluster.example.yaml");
        return p.toFile().exists() ? p : Path.of("..", "docs", "cluster.example.yaml");
    }

    @Test
    void parse_minimalFile_takesDefaults() {
        ClusterFile c = ClusterFile.parse("workers: [{}]", "mini", "mini.yaml");

        assertThat(c.name()).isEqualTo("mini");
        assertThat(c.namespace()).isEqualTo("mini");
        assertThat(c.model()).isNull();
        assertThat(c.frontend().port()).isEqualTo(8000);
        assertThat(c.workers()).containsExactly(new ClusterFile.WorkerGroup("aggregated", 1, false, List.of()));
        assertThat(c.jvmOptions()).isEmpty();
    }

    @Test
    void parse_upstreamEntry_isOneWorkerAdaptingThatServer() {
        ClusterFile c = ClusterFile.parse("workers:\n  - { upstream: \"http://127.0.0.1:8081\" }\n"
                + "  - { upstream: \"http://127.0.0.1:8082\", args: [--upstream-kind, llama-server] }\n", "u", "u.yaml");

        assertThat(c.workers()).extracting(ClusterFile.WorkerGroup::upstream)
                .containsExactly("http://127.0.0.1:8081", "http://127.0.0.1:8082");
        assertThat(c.workerCount()).isEqualTo(2);
        ClusterFile pd = ClusterFile.parse("workers:\n  - { upstream: \"http://p:8100\", role: prefill }\n"
                + "  - { upstream: \"http://d:8200\", role: decode }\n", "pd", "pd.yaml");
        assertThat(pd.workers()).extracting(ClusterFile.WorkerGroup::workerRole)
                .containsExactly(WorkerRole.PREFILL, WorkerRole.DECODE);
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{upstream: \"http://h:1\", count: 2}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("count must be 1");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{upstream: \"h:8081\"}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class)
                .hasMessage("c.yaml: workers[].upstream must be an http(s)://host:port URL, got 'h:8081'");
    }

    @Test
    void parse_badFiles_oneClearErrorEach() {
        assertThatThrownBy(() -> ClusterFile.parse("wrkers: [{}]", "x", "c.yaml")).isInstanceOf(ConfigException.class)
                .hasMessageStartingWith("c.yaml: unknown field 'wrkers'").hasMessageContaining("workers");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{count: 2, gpus: 1}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("unknown field 'gpus'");
        assertThatThrownBy(() -> ClusterFile.parse("name: x", "x", "c.yaml")).isInstanceOf(ConfigException.class)
                .hasMessageContaining("at least one entry under 'workers'");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{role: chef}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("unknown role 'chef'");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{count: 0}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("count must be at least 1, got 0");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{count: 65}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("at most 64");
        assertThatThrownBy(() -> ClusterFile.parse("frontend: {port: 70000}\nworkers: [{}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("frontend.port must be in [0, 65535]");
        assertThatThrownBy(() -> ClusterFile.parse("name: a b\nworkers: [{}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("cluster name 'a b'");
        assertThatThrownBy(() -> ClusterFile.parse("lease_ttl_ms: 10\nworkers: [{}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageContaining("lease_ttl_ms must be in [1000, 300000]");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [{count: many}]", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("c.yaml: ");
        assertThatThrownBy(() -> ClusterFile.parse("workers: [", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessageStartingWith("c.yaml: not valid YAML");
        assertThatThrownBy(() -> ClusterFile.parse("", "x", "c.yaml"))
                .isInstanceOf(ConfigException.class).hasMessage("c.yaml is empty");
    }
}
