package dev.tandem.runtime.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.process.ChildProcess;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A worker process killed (SIGKILL) mid-stream surfaces as a typed WORKER_LOST error. */
@Timeout(90)
class WorkerKilledTest {
    private static final Pattern PORT_LINE = Pattern.compile("PORT (\\d+)");

    private ChildProcess worker;

    @AfterEach
    void killWorker() {
        if (worker != null) {
            worker.kill();
        }
    }

    private int startWorker() {
        String java = ProcessHandle.current().info().command().orElse("java");
        List<String> cmd = List.of(java, "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx256m", "-cp", System.getProperty("java.class.path"),
                FakeWorkerMain.class.getName(), "20");
        worker = ChildProcess.start("fake-worker", cmd, Path.of("target", "fake-worker.log"));
        return Integer.parseInt(worker.awaitOutput(PORT_LINE, Duration.ofSeconds(60)));
    }

    @Test
    void generate_workerProcessKilledMidStream_workerLostWithTokenCount() throws Exception {
        int port = startWorker();
        try (RemoteEngine remote = RemoteEngine.connect("127.0.0.1:" + port, RuntimeConfig.defaults())) {
            RecordingSink sink = new RecordingSink(5);
            remote.submit(GenerateRequest.greedy("doomed", new int[] {1, 2, 3}, 100_000), sink);
            assertThat(sink.awaitTokens(10_000)).isTrue();

            long killedAt = System.nanoTime();
            worker.kill();
            assertThat(sink.awaitDone(10_000)).isTrue();
            long detectedMs = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - killedAt);

            assertThat(sink.error).isInstanceOf(RequestException.class);
            RequestException e = (RequestException) sink.error;
            assertThat(e.kind()).isEqualTo(RequestException.Kind.WORKER_LOST);
            assertThat(e).hasMessageContaining("doomed").hasMessageContaining("after " + sink.tokenCount() + " tokens");
            assertThat(detectedMs).as("a killed process is noticed from its closed socket, not a timeout").isLessThan(3_000);
            assertThat(sink.terminalCalls).isEqualTo(1);
        }
    }
}
