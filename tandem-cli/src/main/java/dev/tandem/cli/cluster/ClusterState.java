package dev.tandem.cli.cluster;

import java.io.IOException;
import java.io.StringReader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Properties;

/**
 * What {@code tandem up} leaves in its state directory for {@code tandem down}: its own process
 * and every child, each as a pid with its start time, so that a pid the kernel has since given to
 * another program is never signalled.
 *
 * <pre>
 * cluster.state (java.util.Properties):
 *   name=demo
 *   url=http://127.0.0.1:8000
 *   up=&lt;pid&gt; &lt;start time, ms since the epoch&gt;
 *   child.0=&lt;pid&gt; &lt;start time&gt; etcd
 *   child.1=...
 * </pre>
 *
 * @param name     the cluster's name
 * @param url      the frontend's URL, or empty while starting
 * @param up       the {@code tandem up} process
 * @param children its children, in start order
 */
public record ClusterState(String name, String url, Member up, List<Member> children) {
    public static final String FILE = "cluster.state";

    /** One process: pid, start time (ms since the epoch), a label. */
    public record Member(long pid, long startMs, String label) {
        /** The member for a running process. */
        public static Member of(ProcessHandle h, String label) {
            return new Member(h.pid(), h.info().startInstant().map(Instant::toEpochMilli).orElse(0L), label);
        }

        /** The process, if it is still this very one (same pid, same start time). */
        public Optional<ProcessHandle> handle() {
            return ProcessHandle.of(pid).filter(ProcessHandle::isAlive)
                    .filter(h -> h.info().startInstant().map(Instant::toEpochMilli).orElse(0L) == startMs);
        }

        String encode() {
            return pid + " " + startMs + " " + label;
        }

        static Member decode(String text) {
            String[] parts = text.trim().split(" ", 3);
            return new Member(Long.parseLong(parts[0]), Long.parseLong(parts[1]), parts.length > 2 ? parts[2] : "");
        }
    }

    public ClusterState {
        children = List.copyOf(children);
    }

    /** Writes {@code dir/cluster.state} atomically. */
    public void write(Path dir) {
        Properties p = new Properties();
        p.setProperty("name", name);
        p.setProperty("url", url);
        p.setProperty("up", up.encode());
        for (int i = 0; i < children.size(); i++) {
            p.setProperty("child." + i, children.get(i).encode());
        }
        try {
            Files.createDirectories(dir);
            Path tmp = dir.resolve(FILE + ".tmp");
            try (var out = Files.newBufferedWriter(tmp)) {
                p.store(out, "tandem up");
            }
            Files.move(tmp, dir.resolve(FILE), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve(FILE), e);
        }
    }

    /** Reads {@code dir/cluster.state}; empty if there is none. */
    public static Optional<ClusterState> read(Path dir) {
        Path file = dir.resolve(FILE);
        if (!Files.exists(file)) {
            return Optional.empty();
        }
        Properties p = new Properties();
        try {
            p.load(new StringReader(Files.readString(file)));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        List<Member> children = new ArrayList<>();
        for (int i = 0; p.getProperty("child." + i) != null; i++) {
            children.add(Member.decode(p.getProperty("child." + i)));
        }
        return Optional.of(new ClusterState(p.getProperty("name", ""), p.getProperty("url", ""),
                Member.decode(p.getProperty("up")), children));
    }

    /** The default state directory of a cluster: {@code $TMPDIR/tandem-up-NAME}. */
    public static Path defaultDir(String clusterName) {
        return Path.of(System.getProperty("java.io.tmpdir"), "tandem-up-" + clusterName);
    }
}
