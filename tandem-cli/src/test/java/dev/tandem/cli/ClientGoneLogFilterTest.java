package dev.tandem.cli;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.LoggerContext;
import ch.qos.logback.classic.spi.LoggingEvent;
import ch.qos.logback.core.spi.FilterReply;
import io.helidon.common.buffers.DataReader;
import org.junit.jupiter.api.Test;

class ClientGoneLogFilterTest {
    private final LoggerContext context = new LoggerContext();
    private final ClientGoneLogFilter filter = new ClientGoneLogFilter();

    private LoggingEvent event(String logger, Throwable t) {
        return new LoggingEvent("x", context.getLogger(logger), Level.WARN, "Internal server error", t, null);
    }

    @Test
    void helidonWarn_clientGoneWhileSendingHeaders_dropped() {
        Throwable t = new RuntimeException("Internal error", new DataReader.InsufficientDataAvailableException());
        assertThat(filter.decide(event("io.helidon.webserver.http1.Http1Connection", t))).isEqualTo(FilterReply.DENY);
    }

    @Test
    void otherFailures_passed() {
        assertThat(filter.decide(event("io.helidon.webserver.http1.Http1Connection", new IllegalStateException("x"))))
                .isEqualTo(FilterReply.NEUTRAL);
        Throwable t = new RuntimeException(new DataReader.InsufficientDataAvailableException());
        assertThat(filter.decide(event("dev.tandem.frontend.FrontendServer", t))).isEqualTo(FilterReply.NEUTRAL);
    }
}
