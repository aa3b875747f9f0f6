package dev.tandem.cli.cluster;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import static org.assertj.core.api.Assertions.assertThat;

class ClusterStateTest {
    @TempDir
    Path dir;

    @Test
    void writeThenRead_roundTrips() {
        ClusterState s = new ClusterState("demo", "http://127.0.0.1:8000",
                ClusterState.Member.of(ProcessHandle.current(), "tandem up"),
                List.of(new ClusterState.Member(12, 34, "etcd"), new ClusterState.Member(56, 78, "demo-aggregated-0")));

        s.write(dir);

        assertThat(ClusterState.read(dir)).contains(s);
    }

    @Test
    void read_noStateFile_isEmpty() {
        assertThat(ClusterState.read(dir)).isEmpty();
    }

    @Test
    void handle_samePidAndStartTime_isTheProcess_otherStartTime_isNot() {
        ClusterState.Member me = ClusterState.Member.of(ProcessHandle.current(), "me");
        ClusterState.Member recycled = new ClusterState.Member(me.pid(), me.startMs() - 60_000, "an older process");

        assertThat(me.handle()).contains(ProcessHandle.current());
        assertThat(recycled.handle()).isEmpty();
    }
}
