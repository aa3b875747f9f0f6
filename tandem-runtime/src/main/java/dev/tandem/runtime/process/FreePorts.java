package dev.tandem.runtime.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;

/** Free TCP ports and reachability checks for the processes a local cluster starts. */
public final class FreePorts {
    private FreePorts() {
    }

    /**
     * A port that was free on loopback a moment ago (the kernel's choice for port 0). Another
     * process may take it before the caller binds it; callers retry or fail with the port named.
     */
    public static int next() {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free port on loopback", e);
        }
    }

    /** True if a TCP connection to {@code host:port} succeeds within {@code timeoutMs}. */
    public static boolean accepts(String host, int port, int timeoutMs) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), timeoutMs);
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
