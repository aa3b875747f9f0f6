package dev.tandem.runtime.http;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * An HTTP/1.1 server on a loopback socket that answers each request with the body given for its
 * request line's start ({@code "POST /v1/completions"}) and then closes the connection without
 * saying so, as llama-server does after a streamed answer: a client that pooled the connection
 * finds it dead on its next request. Other requests get an empty 404. One connection at a time.
 */
public final class ClosingServer implements AutoCloseable {
    private final ServerSocket listener;
    private final Map<String, String> answers;
    private final AtomicInteger connections = new AtomicInteger();
    private final List<Boolean> askedToClose = new CopyOnWriteArrayList<>();

    private ClosingServer(ServerSocket listener, Map<String, String> answers) {
        this.listener = listener;
        this.answers = Map.copyOf(answers);
    }

    /** @param answers body by the start of the request line, e.g. {@code "GET /version"} */
    public static ClosingServer start(Map<String, String> answers) throws IOException {
        ClosingServer s = new ClosingServer(new ServerSocket(0, 50, InetAddress.getLoopbackAddress()), answers);
        Thread.ofVirtual().name("closing-server").start(s::serve);
        return s;
    }

    public String url() {
        return "http://127.0.0.1:" + listener.getLocalPort();
    }

    /** Connections accepted so far. */
    public int connections() {
        return connections.get();
    }

    /** For each request read, whether it asked for the connection to be closed ({@code Connection: close}). */
    public List<Boolean> askedToClose() {
        return List.copyOf(askedToClose);
    }

    private void serve() {
        while (!listener.isClosed()) {
            try (Socket s = listener.accept()) {
                connections.incrementAndGet();
                answer(s);
            } catch (IOException e) {
                // the listener closed, or a client went away
            }
        }
    }

    private void answer(Socket s) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.ISO_8859_1));
        String requestLine = in.readLine();
        if (requestLine == null) {
            return;
        }
        long length = 0;
        boolean close = false;
        for (String h = in.readLine(); h != null && !h.isEmpty(); h = in.readLine()) {
            String lower = h.toLowerCase(Locale.ROOT);
            if (lower.startsWith("content-length:")) {
                length = Long.parseLong(h.substring(15).trim());
            }
            close |= lower.equals("connection: close");
        }
        askedToClose.add(close);
        // the whole body (ISO-8859-1: a char per byte), so that closing sends FIN, not RST
        for (long left = length; left > 0; ) {
            left -= Math.max(1, in.skip(left));
        }
        String body = answers.entrySet().stream().filter(e -> requestLine.startsWith(e.getKey()))
                .map(Map.Entry::getValue).findFirst().orElse(null);
        byte[] bytes = (body == null ? "" : body).getBytes(StandardCharsets.UTF_8);
        OutputStream out = s.getOutputStream();
        out.write(("HTTP/1.1 " + (body == null ? "404 Not Found" : "200 OK") + "\r\nContent-Type: "
                + "text/event-stream\r\nContent-Length: " + bytes.length + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        out.write(bytes);
        out.flush();
    }

    @Override
    public void close() throws IOException {
        listener.close();
    }
}
