package dev.tandem.cli;

import dev.tandem.bench.TransferBench;
import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.TransferKind;
import java.util.List;
import java.util.Locale;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem bench transfer}: KV transfer throughput against the machine's limit. */
@Command(name = "transfer", mixinStandardHelpOptions = true,
        description = {"Measure a KV transport's throughput for runs of consecutive blocks, against the machine's",
            "limit measured in the same run (memcpy for local and shm, a plain socket stream for tcp)."})
final class TransferBenchCommand implements Runnable {
    @Option(names = "--transport", required = true, description = "local, shm, tcp or ucx (ucx needs libucx0)")
    String transport;

    @Option(names = "--blocks", split = ",", defaultValue = "1,16,256",
            description = "run lengths in blocks (default: ${DEFAULT-VALUE})")
    List<Integer> blocks;

    @Option(names = "--block-bytes", description = "block size in bytes (a multiple of 4; overrides --layout)")
    Long blockBytes;

    @Option(names = "--layout", defaultValue = "tinyllama-1.1b",
            description = "tinyllama-1.1b (16 tokens x 22 layers x 4 kv heads x 64 dims, f16: 180,224 bytes), "
                    + "or TOKENSxLAYERSxHEADSxDIM:DTYPE, e.g. 16x32x8x128:f16 (default: ${DEFAULT-VALUE})")
    String layout;

    @Option(names = "--reps", defaultValue = "20",
            description = "pulls per round for 256-block runs; shorter runs do proportionally more (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--rounds", defaultValue = "5",
            description = "interleaved transport/limit rounds; the median is reported (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--window", defaultValue = "16", description = "tcp: READs in flight (default: ${DEFAULT-VALUE})")
    int window;

    @Option(names = "--max-request-bytes", defaultValue = "8388608",
            description = "tcp: bytes per READ (default: ${DEFAULT-VALUE})")
    int maxRequestBytes;

    @Option(names = "--socket-buffer-bytes", defaultValue = "0",
            description = "tcp: SO_SNDBUF/SO_RCVBUF, 0 = kernel autotuning (default: ${DEFAULT-VALUE})")
    int socketBufferBytes;

    @Option(names = "--sendfile", description = "tcp: pool in /dev/shm, served with FileChannel.transferTo")
    boolean sendfile;

    @Option(names = "--json", description = "print one JSON object instead of a table")
    boolean json;

    @Override
    public void run() {
        TransferKind kind = TransferKind.parse(transport);
        TransferBench.Settings settings = new TransferBench.Settings(kind, blocks, layout(), reps, rounds, window,
                maxRequestBytes, socketBufferBytes, sendfile);
        List<TransferBench.Row> rows = TransferBench.run(settings);
        System.out.println(json ? TransferBench.json(settings, rows) : TransferBench.table(settings, rows));
    }

    private KvLayout layout() {
        if (blockBytes != null) {
            if (blockBytes <= 0 || blockBytes % 4 != 0 || blockBytes / 4 > Integer.MAX_VALUE) {
                throw new ConfigException("--block-bytes must be a positive multiple of 4, got " + blockBytes);
            }
            return new KvLayout(1, 1, 1, (int) (blockBytes / 4), KvDtype.F16); // K and V rows of blockBytes/4 halves
        }
        return parseLayout(layout);
    }

    static KvLayout parseLayout(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        if (t.equals("tinyllama-1.1b") || t.equals("tinyllama")) {
            return TransferBench.TINYLLAMA;
        }
        String[] shapeAndType = t.split(":");
        String[] dims = shapeAndType[0].split("x");
        if (shapeAndType.length != 2 || dims.length != 4) {
            throw new ConfigException("--layout '" + text + "' is neither tinyllama-1.1b nor TOKENSxLAYERSxHEADSxDIM:DTYPE");
        }
        try {
            return new KvLayout(Integer.parseInt(dims[0]), Integer.parseInt(dims[1]), Integer.parseInt(dims[2]),
                    Integer.parseInt(dims[3]), KvDtype.parse(shapeAndType[1]));
        } catch (IllegalArgumentException e) {
            throw new ConfigException("--layout '" + text + "': " + e.getMessage());
        }
    }
}
