package dev.tandem.runtime.transfer;

import org.openucx.jucx.ucp.UcpContext;
import org.openucx.jucx.ucp.UcpParams;

/**
 * Whether UCX can be used in this process: the jucx JNI glue is on the class path (it is a
 * dependency) and loads against the host's libucx (Debian's libucx0 1.13.1 with jucx 1.12.1;
 * newer jucx needs a newer libucx). Checked once, by creating and closing a context.
 *
 * <p>UCX picks its transports from {@code UCX_TLS}; when that is unset, this process asks for
 * {@value #DEFAULT_TLS} (shared memory, loopback, TCP), so that UCX never probes for devices the
 * host does not have. On RDMA hardware set {@code UCX_TLS} (for example {@code rc,sm,self}).
 */
public final class UcxSupport {
    /** Transports requested when UCX_TLS is not set. */
    public static final String DEFAULT_TLS = "sm,self,tcp";

    private static final String UNAVAILABLE = probe();

    private UcxSupport() {
    }

    /** True if UCX transfers can run here. */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /** Why UCX cannot run here, or null when it can. */
    public static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** A context with RMA and tagged messages (and wake-ups, for servers). */
    static UcpContext newContext(boolean wakeup) {
        UcpParams params = new UcpParams().requestRmaFeature().requestTagFeature();
        if (wakeup) {
            params.requestWakeupFeature();
        }
        if (System.getenv("UCX_TLS") == null) {
            params.setConfig("TLS", DEFAULT_TLS);
        }
        return new UcpContext(params);
    }

    private static String probe() {
        try {
            newContext(false).close();
            return null;
        } catch (LinkageError | RuntimeException e) {
            return "UCX cannot be loaded (" + e + "); it needs libucx0 1.13 on the host (apt-get install libucx0)"
                    + " and --enable-native-access=ALL-UNNAMED";
        }
    }
}
