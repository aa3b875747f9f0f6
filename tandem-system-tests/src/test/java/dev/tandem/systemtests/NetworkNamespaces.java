package dev.tandem.systemtests;

import dev.tandem.core.TandemException;
import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A Linux network namespace joined to the host's by a veth pair with addresses on a private /24
 * (iproute2 only, no iptables): {@code host side 10.213.N.1 <-> 10.213.N.2 in the namespace}. A
 * process started with {@link #execPrefix()} lives in the namespace and reaches the host's
 * services through the veth, over real interfaces. {@link #cut()} takes the host end down
 * (both ends lose carrier, packets are dropped); {@link #restore()} brings it back.
 */
final class NetworkNamespaces implements AutoCloseable {
    final String namespace;
    final String hostInterface;
    final String namespaceInterface;
    final String hostAddress;
    final String namespaceAddress;

    private NetworkNamespaces(String namespace, String hostInterface, String namespaceInterface, int subnet) {
        this.namespace = namespace;
        this.hostInterface = hostInterface;
        this.namespaceInterface = namespaceInterface;
        this.hostAddress = "10.213." + subnet + ".1";
        this.namespaceAddress = "10.213." + subnet + ".2";
    }

    /** Why namespaces cannot be made here (not root, no CAP_NET_ADMIN, no iproute2), or empty if they can. */
    static Optional<String> unavailableReason() {
        String probe = "tandem-probe-" + ProcessHandle.current().pid();
        try {
            Result add = run("ip", "netns", "add", probe);
            if (add.code != 0) {
                return Optional.of("'ip netns add' failed (needs root or CAP_NET_ADMIN): " + add.output.strip());
            }
            run("ip", "netns", "del", probe);
            return Optional.empty();
        } catch (IOException e) {
            return Optional.of("iproute2 ('ip') cannot be run: " + e.getMessage());
        }
    }

    /** Creates the namespace and the veth pair, both ends up with their addresses. */
    static NetworkNamespaces create() throws IOException {
        long pid = ProcessHandle.current().pid();
        String used = run("ip", "-4", "-o", "addr", "show").output;
        int subnet = (int) (1 + pid % 250);
        while (used.contains("10.213." + subnet + ".")) {
            subnet = subnet % 250 + 1;
        }
        NetworkNamespaces n = new NetworkNamespaces("tandem-ns-" + pid, "tdh" + pid % 10_000_000,
                "tdn" + pid % 10_000_000, subnet);
        try {
            n.must("ip", "netns", "add", n.namespace);
            n.must("ip", "link", "add", n.hostInterface, "type", "veth", "peer", "name", n.namespaceInterface);
            n.must("ip", "link", "set", n.namespaceInterface, "netns", n.namespace);
            n.must("ip", "addr", "add", n.hostAddress + "/24", "dev", n.hostInterface);
            n.must("ip", "link", "set", n.hostInterface, "up");
            n.inside("ip", "addr", "add", n.namespaceAddress + "/24", "dev", n.namespaceInterface);
            n.inside("ip", "link", "set", n.namespaceInterface, "up");
            n.inside("ip", "link", "set", "lo", "up");
        } catch (IOException | RuntimeException e) {
            n.close();
            throw e;
        }
        return n;
    }

    /** Words that run a command inside the namespace ({@code ip netns exec} execs it: same pid). */
    List<String> execPrefix() {
        return List.of("ip", "netns", "exec", namespace);
    }

    /** Takes the host end of the veth down: the namespace is cut off. */
    void cut() throws IOException {
        must("ip", "link", "set", hostInterface, "down");
    }

    /** Brings the host end back up. */
    void restore() throws IOException {
        must("ip", "link", "set", hostInterface, "up");
    }

    private void inside(String... command) throws IOException {
        List<String> c = new ArrayList<>(execPrefix());
        c.addAll(List.of(command));
        must(c.toArray(String[]::new));
    }

    private void must(String... command) throws IOException {
        Result r = run(command);
        if (r.code != 0) {
            throw new IOException(String.join(" ", command) + " failed (" + r.code + "): " + r.output.strip());
        }
    }

    private record Result(int code, String output) {
    }

    /** Runs a command (20 s at most); IOException if it cannot be started, code -1 if it timed out. */
    private static Result run(String... command) throws IOException {
        try {
            ChildProcess.Finished f = ChildProcess.run(List.of(command), Duration.ofSeconds(20));
            return new Result(f.exitCode(), f.output());
        } catch (TandemException e) {
            if (e.getCause() instanceof IOException cannotStart) {
                throw cannotStart;
            }
            return new Result(-1, e.getMessage());
        }
    }

    /** Deletes the namespace (which deletes its veth end, and so the pair) and the host end if left. */
    @Override
    public void close() {
        try {
            run("ip", "netns", "del", namespace);
            if (run("ip", "link", "show", hostInterface).code == 0) {
                run("ip", "link", "del", hostInterface);
            }
        } catch (IOException e) {
            System.err.println("cleaning up network namespace " + namespace + " failed: " + e.getMessage());
        }
    }
}
