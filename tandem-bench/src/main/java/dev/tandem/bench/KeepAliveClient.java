package dev.tandem.bench;

import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * The least a client can do to send one prepared HTTP/1.1 request again and again over one
 * keep-alive connection: write its bytes, read the status line and headers, read the body by
 * Content-Length or chunked framing. Used by {@link FrontendOverheadBench} so that the added
 * latency it reports is the server's, not a general-purpose client's (the JDK client hands each
 * exchange between its selector thread and an executor, which costs more than the server does).
 *
 * <p>Owned by one thread. Not a general client: no redirects, no trailers, no pipelining.
 */
final class KeepAliveClient implements AutoCloseable {
    /** Answer read by {@link #exchange()}: status and body bytes. */
    record Answer(int status, byte[] body) {
        String text() {
            return new String(body, StandardCharsets.UTF_8);
        }
    }

    private final Socket socket;
    private final OutputStream out;
    private final InputStream in;
    private final byte[] request;
    private final StringBuilder line = new StringBuilder(64);

    /** Connects to {@code host:port}; {@code request} is a complete HTTP/1.1 request without Connection: close. */
    KeepAliveClient(String host, int port, byte[] request, int timeoutMs) throws IOException {
        this.request = request.clone();
        this.socket = new Socket();
        socket.setTcpNoDelay(true);
        socket.connect(new InetSocketAddress(host, port), timeoutMs);
        socket.setSoTimeout(timeoutMs);
        this.out = socket.getOutputStream();
        this.in = new BufferedInputStream(socket.getInputStream(), 16 * 1024);
    }

    /** A POST of {@code body} as JSON, to be sent repeatedly. */
    static byte[] post(String host, int port, String path, String body) {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        byte[] head = ("POST " + path + " HTTP/1.1\r\nHost: " + host + ":" + port
                + "\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[head.length + b.length];
        System.arraycopy(head, 0, all, 0, head.length);
        System.arraycopy(b, 0, all, head.length, b.length);
        return all;
    }

    /** Sends the request once and reads the whole answer. */
    Answer exchange() throws IOException {
        out.write(request);
        out.flush();
        String status = readLine();
        if (status == null || !status.startsWith("HTTP/1.1 ")) {
            throw new IOException("not an HTTP/1.1 status line: " + status);
        }
        int code = Integer.parseInt(status.substring(9, 12));
        long length = -1;
        boolean chunked = false;
        for (String h = readLine(); h != null && !h.isEmpty(); h = readLine()) {
            int colon = h.indexOf(':');
            if (colon <= 0) {
                continue;
            }
            String name = h.substring(0, colon).trim();
            String value = h.substring(colon + 1).trim();
            if (name.equalsIgnoreCase("Content-Length")) {
                length = Long.parseLong(value);
            } else if (name.equalsIgnoreCase("Transfer-Encoding") && value.equalsIgnoreCase("chunked")) {
                chunked = true;
            }
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream(chunked ? 4096 : (int) Math.max(length, 0));
        if (chunked) {
            for (int size = chunkSize(); size > 0; size = chunkSize()) {
                body.write(in.readNBytes(size));
                readLine();
            }
            readLine();
        } else if (length >= 0) {
            body.write(in.readNBytes((int) length));
        } else {
            throw new IOException("answer without Content-Length or chunked framing");
        }
        return new Answer(code, body.toByteArray());
    }

    private int chunkSize() throws IOException {
        String s = readLine();
        if (s == null) {
            throw new IOException("connection closed inside a chunked body");
        }
        int semicolon = s.indexOf(';');
        return Integer.parseInt((semicolon < 0 ? s : s.substring(0, semicolon)).trim(), 16);
    }

    /** One CRLF-terminated line (ASCII), or null at end of stream. */
    private String readLine() throws IOException {
        line.setLength(0);
        int c;
        while ((c = in.read()) != -1 && c != '\n') {
            if (c != '\r') {
                line.append((char) c);
            }
        }
        return c == -1 && line.isEmpty() ? null : line.toString();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
