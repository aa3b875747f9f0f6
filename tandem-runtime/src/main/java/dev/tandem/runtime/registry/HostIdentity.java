package dev.tandem.runtime.registry;

import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The default {@link dev.tandem.core.WorkerRecord#hostId()}: the Linux boot id (one per running
 * kernel), else the machine id, else the host name. Workers with equal ids may use same-host
 * transports. Containers on one host share the kernel's boot id but not necessarily /dev/shm; such
 * deployments should set the host id explicitly (for example to the pod's name).
 */
public final class HostIdentity {
    private HostIdentity() {
    }

    public static String current() {
        return fromFiles(List.of(Path.of("/proc/sys/kernel/random/boot_id"), Path.of("/etc/machine-id")));
    }

    static String fromFiles(List<Path> candidates) {
        for (Path p : candidates) {
            try {
                String id = Files.readString(p).trim();
                if (!id.isEmpty()) {
                    return p.getFileName() + ":" + id;
                }
            } catch (IOException | SecurityException e) {
                // try the next source
            }
        }
        try {
            return "hostname:" + InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "hostname:unknown";
        }
    }
}
