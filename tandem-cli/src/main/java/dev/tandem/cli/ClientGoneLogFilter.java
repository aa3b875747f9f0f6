package dev.tandem.cli;

import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.classic.spi.IThrowableProxy;
import ch.qos.logback.core.filter.Filter;
import ch.qos.logback.core.spi.FilterReply;

/**
 * Drops the HTTP server's WARN (with a stack trace) for a client that disconnected while it was
 * still sending its request line or headers: Helidon reports that as an internal error
 * ({@code DataReader.InsufficientDataAvailableException}), but it is an ordinary client leaving.
 * Everything else passes. Installed on the console appender in {@code logback.xml}.
 */
public final class ClientGoneLogFilter extends Filter<ILoggingEvent> {
    private static final String CLIENT_GONE = "InsufficientDataAvailableException";

    @Override
    public FilterReply decide(ILoggingEvent event) {
        if (!event.getLoggerName().startsWith("io.helidon.webserver")) {
            return FilterReply.NEUTRAL;
        }
        for (IThrowableProxy t = event.getThrowableProxy(); t != null; t = t.getCause()) {
            if (t.getClassName().endsWith(CLIENT_GONE)) {
                return FilterReply.DENY;
            }
        }
        return FilterReply.NEUTRAL;
    }
}
