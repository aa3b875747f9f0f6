package dev.tandem.runtime.rpc;

import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.Base64;
import java.util.List;

/**
 * Reads TLS material with the JDK alone. (Handing file paths to Netty makes it parse PEM through
 * BouncyCastle when that is on the class path, as it is through jnats, and initialising the
 * BouncyCastle provider costs seconds at startup.)
 */
final class PemFiles {
    private PemFiles() {
    }

    /** Every certificate in a PEM (or DER) file, in file order. */
    static X509Certificate[] certificates(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            List<X509Certificate> certs = CertificateFactory.getInstance("X.509").generateCertificates(in).stream()
                    .map(c -> (X509Certificate) c).toList();
            if (certs.isEmpty()) {
                throw new ConfigException("no certificate in " + file);
            }
            return certs.toArray(X509Certificate[]::new);
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException("cannot read certificates from " + file + ": " + e.getMessage(), e);
        }
    }

    /** An unencrypted PKCS#8 private key ({@code -----BEGIN PRIVATE KEY-----}): RSA, EC or Ed25519. */
    static PrivateKey privateKey(Path file) {
        String pem;
        try {
            pem = Files.readString(file, StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new ConfigException("cannot read private key " + file + ": " + e.getMessage(), e);
        }
        String begin = "-----BEGIN PRIVATE KEY-----";
        int start = pem.indexOf(begin);
        int end = pem.indexOf("-----END PRIVATE KEY-----");
        if (start < 0 || end < start) {
            throw new ConfigException("private key " + file + " is not an unencrypted PKCS#8 PEM key (BEGIN PRIVATE KEY); "
                    + "convert it with: openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8.pem");
        }
        byte[] der = Base64.getMimeDecoder().decode(pem.substring(start + begin.length(), end));
        PKCS8EncodedKeySpec spec = new PKCS8EncodedKeySpec(der);
        for (String algorithm : List.of("RSA", "EC", "Ed25519")) {
            try {
                return KeyFactory.getInstance(algorithm).generatePrivate(spec);
            } catch (GeneralSecurityException e) {
                // try the next algorithm
            }
        }
        throw new ConfigException("private key " + file + " is neither RSA, EC nor Ed25519");
    }
}
