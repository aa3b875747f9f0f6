package dev.tandem.runtime.process;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A single-member etcd (the {@code etcd} binary from PATH) with its data under a directory, its
 * client port on the given hosts and its peer port on loopback. Restarting keeps the data, as a
 * restarted etcd member would.
 */
public final class EtcdServer extends ServerProcess {
    /** Longest wait for etcd to answer its health check after a start. */
    public static final Duration READY_TIMEOUT = Duration.ofSeconds(30);

    private final List<String> hosts;
    private final int clientPort;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofMillis(500)).build();

    private EtcdServer(ChildProcess process, List<String> hosts, int clientPort) {
        super(process);
        this.hosts = hosts;
        this.clientPort = clientPort;
    }

    /**
     * Starts etcd and waits until it is healthy.
     *
     * @param dir   holds {@code etcd-data/} and {@code etcd.log}
     * @param hosts addresses the client port listens on; the first is the one reported by {@link #url()}
     */
    public static EtcdServer start(Path dir, List<String> hosts) {
        int clientPort = FreePorts.next();
        int peerPort = FreePorts.next();
        List<String> clientUrls = new ArrayList<>();
        for (String h : hosts) {
            clientUrls.add("http://" + h + ":" + clientPort);
        }
        String peer = "http://127.0.0.1:" + peerPort;
        List<String> cmd = List.of("etcd", "--name", "tandem", "--data-dir", dir.resolve("etcd-data").toString(),
                "--listen-client-urls", String.join(",", clientUrls),
                "--advertise-client-urls", clientUrls.getFirst(),
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", "tandem=" + peer, "--logger", "zap", "--log-outputs", "stderr");
        return launch(new EtcdServer(new ChildProcess("etcd", cmd, dir.resolve("etcd.log")), List.copyOf(hosts),
                clientPort));
    }

    @Override
    void awaitReady() {
        process.awaitCondition("to report healthy on " + clientUrl(), READY_TIMEOUT, this::healthy);
    }

    private boolean healthy() {
        try {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(clientUrl() + "/health"))
                    .timeout(Duration.ofMillis(1000)).build(), HttpResponse.BodyHandlers.ofString());
            return r.statusCode() == 200 && r.body().contains("\"true\"");
        } catch (Exception e) {
            return false;
        }
    }

    /** {@code http://host:port} on the first host: the client endpoint as etcd clients spell it. */
    public String clientUrl() {
        return "http://" + hosts.getFirst() + ":" + clientPort;
    }

    /** {@code etcd://host:port} on the first host. */
    public String url() {
        return "etcd://" + hosts.getFirst() + ":" + clientPort;
    }

    /** {@code etcd://host:port} on another of its hosts. */
    public String urlOn(String host) {
        return "etcd://" + host + ":" + clientPort;
    }

    @Override
    public void close() {
        super.close();
        http.close();
    }
}
