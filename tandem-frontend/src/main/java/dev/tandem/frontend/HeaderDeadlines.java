package dev.tandem.frontend;

import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.Http1ConnectionListener;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Closes a connection that sent a request line but not the end of its headers within the read
 * timeout (a slow-headers attack, or a client that died mid-request).
 *
 * <p>Helidon's idle-connection check interrupts only a connection still waiting for its request
 * line, and it sets no read timeout on accepted sockets; a connection stuck in its headers would
 * otherwise stay open forever. This listener sees each request line and each completed header
 * block on the connection's own thread; {@link #cutOff} (the frontend's watchdog tick) interrupts
 * the threads past their deadline, which closes their sockets (a virtual thread blocked in a
 * socket read is woken by closing the socket). Nothing is answered: the request is not known yet.
 */
final class HeaderDeadlines implements Http1ConnectionListener {
    private final long timeoutNs;
    private final Map<ConnectionContext, HeaderRead> reading = new ConcurrentHashMap<>();

    HeaderDeadlines(long timeoutNs) {
        this.timeoutNs = timeoutNs;
    }

    /** A request line arrived: its headers are due within the timeout. */
    @Override
    public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
        reading.put(ctx, new HeaderRead(Thread.currentThread(), System.nanoTime() + timeoutNs));
    }

    /** The headers are complete: the connection is a request now, timed by the body and token deadlines. */
    @Override
    public void headers(ConnectionContext ctx, Headers headers) {
        reading.remove(ctx);
    }

    /**
     * Interrupts every header reader past its deadline; returns how many. Whichever of this and
     * {@link #headers} removes the entry first decides: a reader whose headers just completed is
     * never interrupted.
     */
    int cutOff(long nowNs) {
        int cut = 0;
        for (var e : reading.entrySet()) {
            HeaderRead read = e.getValue();
            if (nowNs - read.deadlineNs >= 0 && reading.remove(e.getKey(), read) && read.reader.isAlive()) {
                read.reader.interrupt();
                cut++;
            }
        }
        return cut;
    }

    private record HeaderRead(Thread reader, long deadlineNs) {
    }
}
