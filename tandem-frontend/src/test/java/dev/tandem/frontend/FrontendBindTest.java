package dev.tandem.frontend;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.List;
import org.junit.jupiter.api.Test;

class FrontendBindTest {

    /** A port already taken is a clear error at start, not a frontend that runs without a listener. */
    @Test
    void start_portInUse_failsNamingTheAddress() throws Exception {
        try (ServerSocket taken = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"))) {
            FrontendConfig config = FrontendConfig.defaults().withHost("127.0.0.1").withPort(taken.getLocalPort());

            assertThatThrownBy(() -> FrontendServer.start(config, List.of(new ServedModel("m", new ByteTextModel())),
                    new WorkerSet(), new RoundRobinSelector()))
                    .isInstanceOf(ConfigException.class)
                    .hasMessageContaining("cannot listen on")
                    .hasMessageContaining(":" + taken.getLocalPort())
                    .hasMessageContaining("in use");
        }
    }
}
