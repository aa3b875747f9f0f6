package dev.tandem.cli.cluster;

import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * How to start another JVM running the {@code tandem} command: the java binary, the JVM flags,
 * the class path, and an optional command prefix (for example {@code ip netns exec NS}, which
 * execs, so the child's pid is the JVM's).
 *
 * @param javaBin   the java executable
 * @param jvmFlags  flags before {@code -cp}, e.g. {@code --add-modules=jdk.incubator.vector}
 * @param classpath the class path holding {@code dev.tandem.cli.Main} and its dependencies
 * @param prefix    words placed before the java binary; empty for none
 */
public record JavaLauncher(String javaBin, List<String> jvmFlags, String classpath, List<String> prefix) {
    /** The class every child runs. */
    public static final String MAIN_CLASS = "dev.tandem.cli.Main";

    public JavaLauncher {
        Objects.requireNonNull(javaBin, "javaBin");
        jvmFlags = List.copyOf(jvmFlags);
        Objects.requireNonNull(classpath, "classpath");
        prefix = List.copyOf(prefix);
    }

    /**
     * The launcher of this very JVM: its java binary, its flags (minus debugger and profiler
     * agents, which would clash on their ports) and its class path ({@code tandem.jar} with its
     * manifest class path, or the directories and jars of a development run).
     */
    public static JavaLauncher current() {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> flags = new ArrayList<>();
        for (String arg : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (!arg.startsWith("-agentlib") && !arg.startsWith("-javaagent") && !arg.startsWith("-Xrunjdwp")
                    && !arg.startsWith("-XX:StartFlightRecording") && !arg.startsWith("-Dsun.java.command")) {
                flags.add(arg);
            }
        }
        return new JavaLauncher(java, flags, System.getProperty("java.class.path"), List.of());
    }

    /** The same launcher with more JVM flags appended (a later flag wins over an earlier one). */
    public JavaLauncher withFlags(List<String> more) {
        List<String> all = new ArrayList<>(jvmFlags);
        all.addAll(more);
        return new JavaLauncher(javaBin, all, classpath, prefix);
    }

    /** The same launcher, run through {@code words} (e.g. {@code ip netns exec ns1}). */
    public JavaLauncher withPrefix(List<String> words) {
        return new JavaLauncher(javaBin, jvmFlags, classpath, words);
    }

    /** The full command line for {@code tandem args...}. */
    public List<String> command(List<String> args) {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.add(javaBin);
        cmd.addAll(jvmFlags);
        cmd.add("-cp");
        cmd.add(classpath);
        cmd.add(MAIN_CLASS);
        cmd.addAll(args);
        return cmd;
    }
}
