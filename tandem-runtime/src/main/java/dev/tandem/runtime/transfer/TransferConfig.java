package dev.tandem.runtime.transfer;

import dev.tandem.core.ConfigException;
import dev.tandem.core.TransferKind;
import java.util.EnumSet;
import java.util.Set;

/**
 * Transfer plane settings (keys {@code tandem.transfer.*}).
 *
 * @param kinds         {@code tandem.transfer.kinds}: transports to serve and pull with; default
 *                      local, shm, tcp (ucx is opt-in: it needs libucx on the host)
 * @param bindHost      {@code tandem.transfer.bind-host}: address the TCP (and UCX) listeners bind; default 0.0.0.0
 * @param tcpPort       {@code tandem.transfer.tcp-port}: TCP listener port, 0 = any free port; default 0, range 0..65535
 * @param ucxPort       {@code tandem.transfer.ucx-port}: UCX listener port, 0 = any free port; default 0, range 0..65535
 * @param advertiseHost {@code tandem.transfer.advertise-host}: host name or address peers use to
 *                      reach the listeners; default 127.0.0.1 (set it for multi-host deployments)
 * @param hostId        {@code tandem.transfer.host-id}: same-host identity for shm; default {@link HostIdentity#local()}
 */
public record TransferConfig(Set<TransferKind> kinds, String bindHost, int tcpPort, int ucxPort, String advertiseHost,
                             String hostId) {
    public static final Set<TransferKind> DEFAULT_KINDS = Set.of(TransferKind.LOCAL, TransferKind.SHM, TransferKind.TCP);
    public static final String DEFAULT_BIND_HOST = "0.0.0.0";
    public static final String DEFAULT_ADVERTISE_HOST = "127.0.0.1";

    public TransferConfig {
        if (kinds == null || kinds.isEmpty()) {
            throw new ConfigException("tandem.transfer.kinds must name at least one of local, shm, ucx, tcp");
        }
        kinds = Set.copyOf(EnumSet.copyOf(kinds));
        if (kinds.stream().anyMatch(TransferKind::movedByEngines)) {
            throw new ConfigException("tandem.transfer.kinds: nixl is not a Tandem transport (external vLLM servers "
                    + "move those blocks themselves); choose among local, shm, ucx, tcp, got " + kinds);
        }
        if (tcpPort < 0 || tcpPort > 65535) {
            throw new ConfigException("tandem.transfer.tcp-port must be 0..65535, got " + tcpPort);
        }
        if (ucxPort < 0 || ucxPort > 65535) {
            throw new ConfigException("tandem.transfer.ucx-port must be 0..65535, got " + ucxPort);
        }
        if (bindHost == null || bindHost.isBlank() || advertiseHost == null || advertiseHost.isBlank()) {
            throw new ConfigException("tandem.transfer.bind-host and advertise-host must not be empty");
        }
        if (hostId == null || hostId.isBlank()) {
            throw new ConfigException("tandem.transfer.host-id must not be empty");
        }
    }

    /** The defaults: local, shm and tcp on any free port, advertised on loopback. */
    public static TransferConfig defaults() {
        return new TransferConfig(DEFAULT_KINDS, DEFAULT_BIND_HOST, 0, 0, DEFAULT_ADVERTISE_HOST, HostIdentity.local());
    }
}
