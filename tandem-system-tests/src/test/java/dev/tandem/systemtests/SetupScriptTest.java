package dev.tandem.systemtests;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.runtime.process.ChildProcess;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's two commands on a machine as it is: {@code bin/setup} (which {@code bin/test} and CI
 * run before the tests) installs nothing on a second run, lists what is missing with the command that
 * installs it, and {@code bin/tandem} without a JDK 25 says how to get one.
 */
@Timeout(300)
class SetupScriptTest {
    private static final Path BIN = Path.of("..", "bin").toAbsolutePath().normalize();
    /** What bin/setup --check runs, linked into a PATH that has no etcd and no nats-server. */
    private static final List<String> TOOLS = List.of("bash", "env", "dirname", "id", "dpkg-query", "apt-get",
            "apt-cache", "cut", "cat", "grep", "awk", "find", "tail", "mktemp", "rm", "sed", "tr", "ls", "node",
            "npm");

    @TempDir
    Path dir;

    /** What a process printed (stdout and stderr) and its exit code. */
    record Run(int exitCode, String output) {
    }

    @Test
    void setup_secondRun_installsNothing() throws Exception {
        // bin/test exports TANDEM_SETUP_RAN=1 after its own bin/setup run: this one is the second
        Assumptions.assumeTrue("1".equals(System.getenv("TANDEM_SETUP_RAN")),
                "bin/setup has not run before this build: run the suite with bin/test");

        Run second = run(List.of(BIN.resolve("setup").toString()), Map.of());

        assertThat(second.exitCode()).as(second.output()).isZero();
        assertThat(second.output()).doesNotContain("setup: installing").doesNotContain("setup: installed:");
        if ("1".equals(System.getenv("TANDEM_REQUIRE_SERVERS"))) {
            // CI: the first run installed everything
            assertThat(second.output()).contains("setup: nothing to do");
        }
    }

    @Test
    void setupCheck_withoutEtcdOnThePath_listsItsPackageWithTheInstallCommandAndInstallsNothing() throws Exception {
        Path bin = Files.createDirectory(dir.resolve("bin"));
        for (String tool : TOOLS) {
            Path found = which(tool);
            if (found != null) {
                Files.createSymbolicLink(bin.resolve(tool), found);
            }
        }

        Run check = run(List.of(BIN.resolve("setup").toString(), "--check"), Map.of("PATH", bin.toString()));

        assertThat(check.exitCode()).as(check.output()).isEqualTo(1);
        assertThat(check.output())
                .contains("setup: missing (--check installs nothing):")
                .containsPattern("system packages: .*etcd-server.*nats-server")
                .containsPattern("apt-get install -y --no-install-recommends .*etcd-server")
                .doesNotContain("setup: installing");
    }

    @Test
    void tandem_withoutJdk25_saysHowToGetOne() throws Exception {
        Path noJdk = Files.createDirectory(dir.resolve("no-jdk"));

        Run serve = run(List.of(BIN.resolve("tandem").toString(), "serve"),
                Map.of("JAVA_HOME", noJdk.toString(), "TANDEM_JVM_DIR", noJdk.toString(), "TANDEM_NO_BUILD", "1"));

        assertThat(serve.exitCode()).as(serve.output()).isEqualTo(2);
        assertThat(serve.output())
                .startsWith("tandem: needs a JDK 25 or newer, and found none.")
                .contains("JAVA_HOME=" + noJdk + " has no bin/java")
                .contains("Looked in " + noJdk + ": nothing there")
                .containsPattern("apt-get install -y (openjdk-25-jdk-headless|temurin-25-jdk)")
                .contains("export JAVA_HOME=")
                .doesNotContain("Exception");
    }

    /** Runs {@code command} with {@code env} added, its output in a file; at most 240 s. */
    private Run run(List<String> command, Map<String, String> env) {
        ChildProcess.Finished f = ChildProcess.run(command, null, env, Duration.ofSeconds(240));
        return new Run(f.exitCode(), f.output());
    }

    /** {@code tool} in one of the PATH's folders, or null. */
    private static Path which(String tool) {
        for (String folder : System.getenv("PATH").split(File.pathSeparator)) {
            Path candidate = Path.of(folder, tool);
            if (!folder.isEmpty() && Files.isExecutable(candidate) && !Files.isDirectory(candidate)) {
                return candidate;
            }
        }
        return null;
    }
}
