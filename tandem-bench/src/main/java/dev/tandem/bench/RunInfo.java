package dev.tandem.bench;

import dev.tandem.core.TandemException;
import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;

/**
 * Where and how a benchmark ran, stated in every report: the command line, the machine (cores,
 * CPU model from /proc/cpuinfo, memory), the Java runtime, the git commit of the working
 * directory, and the start time.
 */
public record RunInfo(String commandLine, int cores, String cpuModel, long memoryBytes, String os, String java,
                      String gitCommit, String startedAt) {

    /** Describes this machine and process now; {@code commandLine} is what the user typed. */
    public static RunInfo capture(String commandLine) {
        return new RunInfo(commandLine, Runtime.getRuntime().availableProcessors(), readCpuModel(), readMemoryBytes(),
                System.getProperty("os.name") + " " + System.getProperty("os.version") + " "
                        + System.getProperty("os.arch"),
                Runtime.version() + " (" + System.getProperty("java.vm.name") + ", " + System.getProperty("java.vendor")
                        + ")",
                readGitCommit(), Instant.now().truncatedTo(ChronoUnit.SECONDS).toString());
    }

    /** One line: "2 cores, AMD EPYC, 7.8 GiB, Linux ...". */
    public String machine() {
        return cores + " cores, " + cpuModel + (memoryBytes > 0 ? String.format(", %.1f GiB RAM", memoryBytes / 1073741824.0)
                : "") + ", " + os;
    }

    static String readCpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"), StandardCharsets.UTF_8)) {
                if (line.startsWith("model name")) {
                    return line.substring(line.indexOf(':') + 1).trim();
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or not readable: fall back to the architecture
        }
        return "unknown CPU (" + System.getProperty("os.arch") + ")";
    }

    static long readMemoryBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"), StandardCharsets.US_ASCII)) {
                if (line.startsWith("MemTotal:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: unknown
        }
        return -1;
    }

    /** {@code git rev-parse HEAD} of the working directory, "+dirty" when tracked files changed; "unknown" without git. */
    static String readGitCommit() {
        String head = git("rev-parse", "HEAD");
        if (head == null || head.isBlank()) {
            return "unknown";
        }
        String status = git("status", "--porcelain", "--untracked-files=no");
        return head.strip() + (status != null && !status.isBlank() ? " (+ uncommitted changes)" : "");
    }

    private static String git(String... args) {
        List<String> command = new java.util.ArrayList<>();
        command.add("git");
        command.addAll(List.of(args));
        try {
            ChildProcess.Finished f = ChildProcess.run(command, Duration.ofSeconds(5));
            return f.succeeded() ? f.output() : null;
        } catch (TandemException e) {
            return null; // no git, or not a checkout
        }
    }
}
