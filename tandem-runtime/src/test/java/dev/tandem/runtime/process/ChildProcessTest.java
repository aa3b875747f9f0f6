package dev.tandem.runtime.process;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.TandemException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(60)
class ChildProcessTest {
    private static final Duration LONG = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private ChildProcess shell(String script) {
        return ChildProcess.start("sh", List.of("sh", "-c", script), dir.resolve("child.log"));
    }

    @Test
    void awaitOutput_lineWithGroup_returnsTheGroup() {
        try (ChildProcess p = shell("echo 'listening on port 4711'; exec sleep 60")) {
            assertThat(p.awaitOutput(Pattern.compile("port (\\d+)"), LONG)).isEqualTo("4711");
        }
    }

    @Test
    void start_stdoutAndStderr_bothInTheLogFile() throws Exception {
        try (ChildProcess p = shell("echo out; echo err >&2; exec sleep 60")) {
            p.awaitCondition("to write both lines", LONG, () -> p.output().contains("out") && p.output().contains("err"));
            assertThat(Files.readString(p.log())).contains("out\n").contains("err\n");
        }
    }

    @Test
    void awaitOutput_processExitsFirst_failsAtOnceWithExitCodeAndLogTail() {
        try (ChildProcess p = shell("echo 'bad option --x'; exit 3")) {
            assertThatThrownBy(() -> p.awaitOutput(Pattern.compile("never printed"), LONG))
                    .isInstanceOf(TandemException.class)
                    .hasMessageContaining("sh exited (code 3)")
                    .hasMessageContaining("bad option --x");
        }
    }

    @Test
    void awaitOutput_deadlinePasses_failsNamingWhatItWaitedFor() {
        try (ChildProcess p = shell("exec sleep 60")) {
            assertThatThrownBy(() -> p.awaitOutput(Pattern.compile("ready"), Duration.ofMillis(200)))
                    .isInstanceOf(TandemException.class)
                    .hasMessageContaining("did not print ready within 200 ms");
            assertThat(p.isAlive()).as("a failed wait leaves stopping to the caller").isTrue();
        }
    }

    @Test
    void awaitPort_portAccepts_returns() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
                ChildProcess p = shell("exec sleep 60")) {
            p.awaitPort("127.0.0.1", server.getLocalPort(), LONG);
            assertThat(p.isAlive()).isTrue();
        }
    }

    @Test
    void awaitPort_nothingListens_failsAfterTheDeadline() {
        int port = FreePorts.next();
        try (ChildProcess p = shell("exec sleep 60")) {
            assertThatThrownBy(() -> p.awaitPort("127.0.0.1", port, Duration.ofMillis(300)))
                    .isInstanceOf(TandemException.class)
                    .hasMessageContaining("did not accept connections on 127.0.0.1:" + port);
        }
    }

    @Test
    void stop_childEndsOnSigterm_exitCodeOfTheSignal() {
        ChildProcess p = shell("exec sleep 60");
        p.stop(LONG);
        assertThat(p.isAlive()).isFalse();
        assertThat(p.exitCode()).hasValue(128 + 15);
    }

    @Test
    void stop_childIgnoresSigterm_killedAfterTheGracePeriod() {
        ChildProcess p = shell("trap '' TERM; echo trapped; exec sleep 60");
        p.awaitOutput(Pattern.compile("trapped"), LONG);
        p.stop(Duration.ofMillis(300));
        assertThat(p.isAlive()).isFalse();
        assertThat(p.exitCode()).hasValue(128 + 9);
    }

    @Test
    void start_again_outputIsOnlyThisRunsAndTheLogKeepsBoth() throws Exception {
        ChildProcess p = new ChildProcess("sh", List.of("sh", "-c", "echo run-$$; exec sleep 60"), dir.resolve("r.log"));
        p.start();
        String first = p.awaitOutput(Pattern.compile("(run-\\d+)"), LONG);
        p.kill();
        p.start();
        String second = p.awaitOutput(Pattern.compile("(run-\\d+)"), LONG);
        p.close();
        assertThat(second).isNotEqualTo(first);
        assertThat(p.output()).doesNotContain(first);
        assertThat(Files.readString(p.log())).contains(first, second);
    }

    @Test
    void start_whileRunning_refused() {
        try (ChildProcess p = shell("exec sleep 60")) {
            assertThatThrownBy(p::start).isInstanceOf(IllegalStateException.class).hasMessageContaining("already running");
        }
    }

    @Test
    void start_missingBinary_failsNamingIt() {
        assertThatThrownBy(() -> ChildProcess.start("ghost", List.of("/nonexistent/tandem-ghost"), dir.resolve("g.log")))
                .isInstanceOf(TandemException.class)
                .hasMessageContaining("cannot start ghost (/nonexistent/tandem-ghost)");
    }

    @Test
    void terminate_childIgnoresSigterm_reportsItStillRunsAndLeavesIt() {
        try (ChildProcess p = shell("trap '' TERM; echo trapped; exec sleep 60")) {
            p.awaitOutput(Pattern.compile("trapped"), LONG);
            assertThat(p.terminate(Duration.ofMillis(200))).isFalse();
            assertThat(p.isAlive()).isTrue();
        }
    }

    @Test
    void signal_int_runsTheChildsHandler() {
        try (ChildProcess p = shell("trap 'echo got-int; exit 7' INT; echo trapped; while true; do sleep 0.05; done")) {
            p.awaitOutput(Pattern.compile("trapped"), LONG);
            p.signal("INT");
            assertThat(p.awaitExit(LONG)).hasValue(7);
            assertThat(p.output()).contains("got-int");
        }
    }

    @Test
    void run_shortCommand_exitCodeAndBothStreamsInDirectoryWithEnvironment() {
        ChildProcess.Finished f = ChildProcess.run(List.of("sh", "-c", "echo $TANDEM_X; pwd; echo oops >&2; exit 4"),
                dir, java.util.Map.of("TANDEM_X", "x-value"), LONG);

        assertThat(f.exitCode()).isEqualTo(4);
        assertThat(f.succeeded()).isFalse();
        assertThat(f.output()).contains("x-value", dir.toString(), "oops");
    }

    @Test
    void run_pastItsDeadline_killedAndFailsWithItsOutput() {
        assertThatThrownBy(() -> ChildProcess.run(List.of("sh", "-c", "echo started; exec sleep 60"),
                Duration.ofMillis(300)))
                .isInstanceOf(TandemException.class)
                .hasMessageContaining("did not finish within 300 ms")
                .hasMessageContaining("started");
    }

    @Test
    void run_missingBinary_failsNamingIt() {
        assertThatThrownBy(() -> ChildProcess.run(List.of("/nonexistent/tandem-tool", "x"), LONG))
                .isInstanceOf(TandemException.class).hasMessageContaining("cannot run /nonexistent/tandem-tool x");
    }
}
