package dev.tandem.runtime.rpc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.tandem.core.ConfigException;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.core.TandemException;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.process.ChildProcess;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The request plane with TLS on, using a throw-away self-signed certificate made by openssl. */
@Timeout(60)
class WorkerRpcTlsTest {
    private static Path dir;
    private static Path cert;
    private static Path key;

    @BeforeAll
    static void makeCertificate() throws Exception {
        Files.createDirectories(Path.of("target"));
        dir = Files.createTempDirectory(Path.of("target").toAbsolutePath(), "tls-");
        cert = dir.resolve("cert.pem");
        key = dir.resolve("key.pem");
        ChildProcess.Finished openssl;
        try {
            openssl = ChildProcess.run(List.of("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", key.toString(), "-out", cert.toString(), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"), Duration.ofSeconds(20));
        } catch (TandemException e) {
            openssl = null;
        }
        assumeTrue(openssl != null && openssl.succeeded(),
                "openssl is needed to make a test certificate; TLS test skipped");
    }

    @AfterAll
    static void cleanUp() throws IOException {
        if (dir != null) {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
    }

    @Test
    void generate_overTls_streams() throws InterruptedException {
        FakeEngine engine = new FakeEngine(5);
        RuntimeConfig serverConfig = RuntimeConfig.defaults().withTls(cert, key, null);
        RuntimeConfig clientConfig = RuntimeConfig.defaults().withTls(null, null, cert);
        try (WorkerRpcServer server = WorkerRpcServer.start("127.0.0.1", 0, engine, null, serverConfig);
             RemoteEngine remote = RemoteEngine.connect(server.address(), clientConfig);
             RemoteEngine plaintext = RemoteEngine.connect(server.address(), RuntimeConfig.defaults())) {
            RecordingSink sink = new RecordingSink();
            remote.submit(GenerateRequest.greedy("tls-1", new int[] {1, 2}, 5), sink);
            assertThat(sink.awaitDone(10_000)).isTrue();
            assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(sink.tokens).hasSize(5);

            assertThatThrownBy(plaintext::health).isInstanceOf(RequestException.class)
                    .extracting(e -> ((RequestException) e).kind()).isEqualTo(RequestException.Kind.WORKER_LOST);
        } finally {
            engine.close();
        }
    }

    @Test
    void config_onlyCertificateWithoutKey_refusedAtStartup() {
        assertThatThrownBy(() -> RuntimeConfig.defaults().withTls(cert, null, null))
                .isInstanceOf(ConfigException.class).hasMessageContaining("tls-private-key-path");
        assertThatThrownBy(() -> RuntimeConfig.defaults().withTls(null, null, dir.resolve("missing.pem")))
                .isInstanceOf(ConfigException.class).hasMessageContaining("missing.pem");
    }
}
