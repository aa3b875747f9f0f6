package dev.tandem.runtime.transfer;

import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.function.Predicate;

/**
 * Picks how to pull from a peer: the first of local, shm, ucx, tcp that this side supports and
 * that the peer advertises in a form this side can reach.
 *
 * <ul>
 *   <li>LOCAL only if the endpoint's scope is this JVM's {@link LocalPools} hub;</li>
 *   <li>SHM only if the endpoint's host id is this host's and its pool file is readable here
 *       (containers may share a host id but not /dev/shm);</li>
 *   <li>UCX if both sides have it (the library loaded on this side);</li>
 *   <li>TCP otherwise.</li>
 * </ul>
 */
public final class TransportSelector {
    /** The order of preference, cheapest first. */
    public static final List<TransferKind> PREFERENCE = List.of(TransferKind.LOCAL, TransferKind.SHM,
            TransferKind.UCX, TransferKind.TCP);

    /**
     * What this side can do.
     *
     * @param localScopeId the scope id of this JVM's {@link LocalPools} hub
     * @param hostId       this host's id ({@link HostIdentity#local()})
     * @param supported    the transports this side has (and may use)
     */
    public record Self(String localScopeId, String hostId, Set<TransferKind> supported) {
        public Self {
            supported = Set.copyOf(supported);
        }
    }

    private TransportSelector() {
    }

    /** The endpoint to pull through, or empty if no transport fits. */
    public static Optional<TransferEndpoint> choose(Self self, List<TransferEndpoint> peer) {
        return choose(self, peer, file -> Files.isReadable(file));
    }

    /** As {@link #choose(Self, List)}, with the shm file check given (for tests). */
    public static Optional<TransferEndpoint> choose(Self self, List<TransferEndpoint> peer, Predicate<Path> readable) {
        for (TransferKind kind : PREFERENCE) {
            if (!self.supported().contains(kind)) {
                continue;
            }
            for (TransferEndpoint ep : peer) {
                if (ep.kind() == kind && reachable(self, ep, readable)) {
                    return Optional.of(ep);
                }
            }
        }
        return Optional.empty();
    }

    private static boolean reachable(Self self, TransferEndpoint ep, Predicate<Path> readable) {
        return switch (ep.kind()) {
            case LOCAL -> ep.scopeId().equals(self.localScopeId());
            case SHM -> ep.scopeId().equals(self.hostId()) && readable.test(Path.of(ep.address()));
            case UCX, TCP -> true;
            case NIXL -> false; // the engines' own protocol: never pulled by a Tandem transport
        };
    }
}
