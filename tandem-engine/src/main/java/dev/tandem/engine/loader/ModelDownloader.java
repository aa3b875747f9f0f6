package dev.tandem.engine.loader;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Downloads a {@link KnownModel} into the cache, verified.
 *
 * <h2>Design</h2>
 * The body streams (JDK {@link HttpClient}, redirects followed as Hugging Face's CDN needs) into
 * a temporary file beside the target; then size and SHA-256 are checked and the file is moved
 * over the target atomically. Any failure (HTTP status, connection, deadline, mismatch) deletes
 * the temporary file, so the cache only ever holds verified models.
 * <p>Deadlines: {@code connectTimeout} for the TCP/TLS connection, {@code stallTimeout} for any
 * period without new bytes (headers included), {@code deadline} for the whole download. The
 * calling thread watches the temporary file grow four times a second, prints progress, and
 * cancels the exchange when a deadline passes.
 *
 * <p>Thread ownership: called on one thread; the HTTP client's own threads write the file.
 */
final class ModelDownloader {
    private static final long POLL_MS = 250;

    private final Duration connectTimeout;
    private final Duration stallTimeout;
    private final Duration deadline;
    private final PrintStream progress;

    ModelDownloader(Duration connectTimeout, Duration stallTimeout, Duration deadline, PrintStream progress) {
        this.connectTimeout = connectTimeout;
        this.stallTimeout = stallTimeout;
        this.deadline = deadline;
        this.progress = progress;
    }

    /** Downloads {@code model} from {@code url} to {@code target}; returns {@code target}. */
    Path download(KnownModel model, URI url, Path target) {
        Path temp = target.resolveSibling("." + target.getFileName() + ".download-" + ProcessHandle.current().pid()
                + "-" + Long.toHexString(System.nanoTime()));
        try {
            Files.createDirectories(target.getParent());
            fetch(model, url, temp);
            verify(model, url, temp);
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            return target;
        } catch (IOException e) {
            throw new ModelResolutionException("cannot download " + model.name() + " to " + target + ": " + e, e);
        } finally {
            try {
                Files.deleteIfExists(temp);
            } catch (IOException e) {
                // The download already failed or succeeded; a stray temp file is only litter.
                System.getLogger(ModelDownloader.class.getName()).log(System.Logger.Level.WARNING,
                        "cannot delete " + temp + ": " + e);
            }
        }
    }

    private void fetch(KnownModel model, URI url, Path temp) {
        HttpClient client = HttpClient.newBuilder()
                .connectTimeout(connectTimeout)
                .followRedirects(HttpClient.Redirect.NORMAL)
                .build();
        try {
            HttpRequest request = HttpRequest.newBuilder(url)
                    .timeout(stallTimeout)
                    .header("User-Agent", "tandem")
                    .GET()
                    .build();
            HttpResponse.BodyHandler<Path> handler = info -> info.statusCode() == 200
                    ? HttpResponse.BodySubscribers.ofFile(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)
                    : HttpResponse.BodySubscribers.replacing(null);
            CompletableFuture<HttpResponse<Path>> future = client.sendAsync(request, handler);
            HttpResponse<Path> response = await(model, url, temp, future);
            if (response.statusCode() != 200) {
                throw new ModelResolutionException("cannot download " + model.name() + ": HTTP "
                        + response.statusCode() + " from " + url);
            }
        } finally {
            client.shutdownNow();
        }
    }

    private HttpResponse<Path> await(KnownModel model, URI url, Path temp, CompletableFuture<HttpResponse<Path>> future) {
        long startNs = System.nanoTime();
        long lastChangeNs = startNs;
        long lastBytes = -1;
        try {
            while (true) {
                try {
                    HttpResponse<Path> response = future.get(POLL_MS, TimeUnit.MILLISECONDS);
                    report(model, size(temp), true);
                    return response;
                } catch (TimeoutException e) {
                    long now = System.nanoTime();
                    long bytes = size(temp);
                    if (bytes != lastBytes) {
                        lastBytes = bytes;
                        lastChangeNs = now;
                        report(model, bytes, false);
                    }
                    if (now - lastChangeNs > stallTimeout.toNanos()) {
                        future.cancel(true);
                        throw new ModelResolutionException("download of " + model.name() + " from " + url
                                + " stalled: no data for " + stallTimeout.toSeconds() + " s (" + Math.max(bytes, 0)
                                + " bytes received)");
                    }
                    if (now - startNs > deadline.toNanos()) {
                        future.cancel(true);
                        throw new ModelResolutionException("download of " + model.name() + " from " + url
                                + " did not finish within " + deadline.toSeconds() + " s");
                    }
                }
            }
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new ModelResolutionException("download of " + model.name() + " interrupted", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            String why = switch (cause) {
                case ConnectException c -> "cannot connect (" + c.getMessage() + ")";
                case HttpTimeoutException t -> "no response within " + stallTimeout.toSeconds() + " s";
                default -> String.valueOf(cause);
            };
            throw new ModelResolutionException("cannot download " + model.name() + " from " + url + ": " + why, cause);
        }
    }

    private static void verify(KnownModel model, URI url, Path temp) throws IOException {
        long size = Files.size(temp);
        if (size != model.sizeBytes()) {
            throw new ModelResolutionException("download of " + model.name() + " from " + url + " has " + size
                    + " bytes, expected " + model.sizeBytes() + "; nothing was saved");
        }
        String actual = sha256(temp);
        if (!actual.equals(model.sha256())) {
            throw new ModelResolutionException("download of " + model.name() + " from " + url
                    + " failed verification: sha256 " + actual + ", expected " + model.sha256() + "; nothing was saved");
        }
    }

    static String sha256(Path file) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JDK has SHA-256", e);
        }
        byte[] buffer = new byte[1 << 20];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buffer)) > 0; ) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest());
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (IOException e) {
            return -1; // not created yet (no headers) or already gone
        }
    }

    private void report(KnownModel model, long bytes, boolean done) {
        if (progress == null || bytes < 0) {
            return;
        }
        long total = model.sizeBytes();
        progress.printf("\rdownload %s: %.1f/%.1f MB (%d%%)%s", model.name(), bytes / 1e6, total / 1e6,
                Math.min(100, bytes * 100 / total), done ? System.lineSeparator() : "");
        progress.flush();
    }
}
