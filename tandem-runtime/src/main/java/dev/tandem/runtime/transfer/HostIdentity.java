package dev.tandem.runtime.transfer;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * An id that two processes share exactly when they run on the same host since the same boot,
 * so that one can map the other's /dev/shm pool file. Built from /etc/machine-id and the
 * kernel's boot id, falling back to the host name. Containers that share a machine id but not
 * /dev/shm are caught later: the shared-memory transport is chosen only if the pool file is
 * readable too.
 */
public final class HostIdentity {
    private static final String LOCAL = compute();

    private HostIdentity() {
    }

    /** This host's id (computed once). */
    public static String local() {
        return LOCAL;
    }

    private static String compute() {
        String machine = read(Path.of("/etc/machine-id"));
        String boot = read(Path.of("/proc/sys/kernel/random/boot_id"));
        if (machine != null && boot != null) {
            return machine + "-" + boot;
        }
        try {
            return "host-" + InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "host-unknown";
        }
    }

    private static String read(Path file) {
        try {
            String text = Files.readString(file).trim();
            return text.isEmpty() ? null : text;
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }
}
