package dev.tandem.runtime;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;

/** A real single-member etcd on free loopback ports with a temporary data directory. */
public final class EtcdProcess extends ExternalProcess {
    private final int clientPort = freePort();
    private final int peerPort = freePort();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(300)).build();

    private EtcdProcess() {
        super("etcd");
    }

    /** A started etcd; skips the test (or fails it, see {@link Prerequisites}) without etcd on the PATH. */
    public static EtcdProcess started() {
        Prerequisites.etcd();
        return startedOrClosed(new EtcdProcess());
    }

    public String endpoint() {
        return "http://127.0.0.1:" + clientPort;
    }

    @Override
    protected String name() {
        return "etcd";
    }

    @Override
    protected List<String> command() {
        String client = "http://127.0.0.1:" + clientPort;
        String peer = "http://127.0.0.1:" + peerPort;
        return List.of("etcd", "--name", "t", "--data-dir", workDir.resolve("data").toString(),
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "t=" + peer, "--logger", "zap", "--log-outputs", "stderr");
    }

    @Override
    protected boolean ready() {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(endpoint() + "/health"))
                    .timeout(Duration.ofMillis(500)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 && r.body().contains("\"true\"");
        } catch (Exception e) {
            return false;
        }
    }
}
