package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.TandemException;
import dev.tandem.core.TransferKind;
import dev.tandem.runtime.transfer.Deadline;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.KvMemory;
import dev.tandem.runtime.transfer.KvTransport;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.LocalTransport;
import dev.tandem.runtime.transfer.PullSource;
import dev.tandem.runtime.transfer.ReadGuard;
import dev.tandem.runtime.transfer.ShmTransport;
import dev.tandem.runtime.transfer.TcpTransferServer;
import dev.tandem.runtime.transfer.TcpTransport;
import dev.tandem.runtime.transfer.TransferListener;
import dev.tandem.runtime.transfer.UcxSupport;
import dev.tandem.runtime.transfer.UcxTransferServer;
import dev.tandem.runtime.transfer.UcxTransport;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Measures one transport's throughput for runs of consecutive blocks against the machine's limit
 * measured in the same process, interleaved round by round: a plain {@link MemorySegment#copy}
 * of the same size for local and shm, a plain socket stream (one request byte, one large write,
 * one socket) for tcp. Used by {@code tandem bench transfer}; see docs/benchmarks.md.
 *
 * <p>Owned by the calling thread; the tcp servers run on virtual threads it starts and stops.
 */
public final class TransferBench {
    /** The layout the benchmark uses by default: TinyLlama-1.1B, block 16, F16 KV (180,224-byte blocks). */
    public static final KvLayout TINYLLAMA = new KvLayout(16, 22, 4, 64, KvDtype.F16);

    /**
     * What to measure.
     *
     * @param kind       local, shm or tcp
     * @param runBlocks  run lengths in blocks (each pull moves one run of this many consecutive blocks)
     * @param layout     block layout
     * @param reps       pulls per round for a 256-block run; shorter runs do proportionally more
     *                   (at most 20,000) so every round moves a similar number of bytes
     * @param rounds     interleaved rounds (transport, then limit); the median round is reported
     * @param tcpWindow  READs in flight per connection (tcp)
     * @param tcpMaxRequestBytes bytes per READ (tcp)
     * @param socketBufferBytes SO_SNDBUF/SO_RCVBUF for both the transport and the limit, 0 = kernel default (tcp)
     * @param sendfile   serve a file-backed pool with transferTo (tcp; the pool is then put in /dev/shm)
     */
    public record Settings(TransferKind kind, List<Integer> runBlocks, KvLayout layout, int reps, int rounds,
                           int tcpWindow, int tcpMaxRequestBytes, int socketBufferBytes, boolean sendfile) {
        public Settings {
            if (kind == TransferKind.UCX && !UcxSupport.available()) {
                throw new ConfigException(UcxSupport.unavailableReason());
            }
            if (kind.movedByEngines()) {
                throw new ConfigException("--transport " + kind.label() + " is moved by external engines, not by "
                        + "Tandem: choose local, shm, tcp or ucx");
            }
            runBlocks = List.copyOf(runBlocks);
            if (runBlocks.isEmpty() || runBlocks.stream().anyMatch(b -> b <= 0)) {
                throw new ConfigException("--blocks needs positive run lengths, got " + runBlocks);
            }
            if (reps <= 0 || rounds <= 0) {
                throw new ConfigException("--reps and --rounds must be positive, got " + reps + " and " + rounds);
            }
            long poolBytes = maxRun(runBlocks) * layout.blockBytes();
            if (poolBytes > (8L << 30)) {
                throw new ConfigException("a run of " + maxRun(runBlocks) + " blocks of " + layout.blockBytes()
                        + " bytes is over 8 GiB; use fewer blocks or smaller blocks");
            }
        }
    }

    /**
     * One run length's figures.
     *
     * @param blocks          blocks per pull
     * @param bytes           bytes per pull
     * @param gbPerSecond     the transport's throughput, 10^9 bytes per second (median round)
     * @param limitGbPerSecond the limit's throughput (median round)
     * @param microsPerPull   the transport's mean time per pull in the median round
     */
    public record Row(int blocks, long bytes, double gbPerSecond, double limitGbPerSecond, double microsPerPull) {
        /** The transport's share of the limit, in percent. */
        public double percentOfLimit() {
            return 100.0 * gbPerSecond / limitGbPerSecond;
        }
    }

    private interface Pull {
        void run(int blocks);
    }

    private TransferBench() {
    }

    private static int maxRun(List<Integer> runs) {
        return runs.stream().mapToInt(Integer::intValue).max().orElseThrow();
    }

    /** Runs the benchmark and returns one row per run length. */
    public static List<Row> run(Settings s) {
        int poolBlocks = maxRun(s.runBlocks());
        long poolBytes = poolBlocks * s.layout().blockBytes();
        Path file = null;
        try (Arena arena = Arena.ofShared()) {
            boolean fileBacked = s.kind() == TransferKind.SHM || (s.kind() == TransferKind.TCP && s.sendfile());
            MemorySegment sourceMemory;
            if (fileBacked) {
                file = Files.createTempFile(shmDir(), "tandem-bench-", ".kv");
                sourceMemory = mapFile(file, poolBytes, arena);
            } else {
                sourceMemory = arena.allocate(poolBytes, 64);
            }
            KvMemory source = new KvMemory(s.layout(), poolBlocks, sourceMemory, file);
            KvMemory destination = KvMemory.of(s.layout(), poolBlocks, arena.allocate(poolBytes, 64));
            MemorySegment limitSource = arena.allocate(poolBytes, 64);
            fill(source.memory());
            fill(limitSource);
            fill(destination.memory());
            return switch (s.kind()) {
                case LOCAL -> measureCopyKind(s, source, destination, limitSource, localPull(source, destination));
                case SHM -> measureCopyKind(s, source, destination, limitSource, shmPull(source, destination));
                case TCP -> measureTcp(s, source, destination);
                case UCX -> measureUcx(s, source, destination, limitSource);
                case NIXL -> throw new IllegalStateException("refused by Settings");
            };
        } catch (IOException e) {
            throw new TandemException("transfer benchmark failed: " + e.getMessage(), e);
        } finally {
            if (file != null) {
                try {
                    Files.deleteIfExists(file);
                    Files.deleteIfExists(ShmTransport.layoutFile(file));
                } catch (IOException ignored) {
                    // a temp file left behind is harmless
                }
            }
        }
    }

    private static Path shmDir() {
        Path shm = Path.of("/dev/shm");
        return Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Path.of(System.getProperty("java.io.tmpdir"));
    }

    private static MemorySegment mapFile(Path file, long bytes, Arena arena) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ch.truncate(bytes);
            ch.write(ByteBuffer.wrap(new byte[1]), bytes - 1);
            return ch.map(FileChannel.MapMode.READ_WRITE, 0, bytes, arena);
        }
    }

    private static void fill(MemorySegment m) {
        long x = 0x9E3779B97F4A7C15L;
        for (long i = 0; i + 8 <= m.byteSize(); i += 4096) {
            x ^= x << 13;
            x ^= x >>> 7;
            x ^= x << 17;
            m.set(ValueLayout.JAVA_LONG_UNALIGNED, i, x);
        }
    }

    private static int[] ids(int n) {
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = i;
        }
        return ids;
    }

    private static Pull transportPull(KvTransport t, PullSource src, KvMemory destination) {
        return blocks -> {
            int[] ids = ids(blocks);
            t.pull(src, ids, destination, ids, Deadline.in(Duration.ofSeconds(60))).orThrow();
        };
    }

    private static Pull localPull(KvMemory source, KvMemory destination) {
        LocalPools hub = new LocalPools();
        LocalTransport t = new LocalTransport(hub, TransferListener.NONE);
        return transportPull(t, new PullSource(hub.expose("bench", source), source.layout(), 0), destination);
    }

    private static Pull shmPull(KvMemory source, KvMemory destination) {
        ShmTransport t = new ShmTransport(HostIdentity.local(), TransferListener.NONE);
        return transportPull(t, new PullSource(ShmTransport.publish(source, HostIdentity.local()), source.layout(), 0),
                destination);
    }

    private static List<Row> measureCopyKind(Settings s, KvMemory source, KvMemory destination,
                                             MemorySegment limitSource, Pull pull) {
        MemorySegment limitDestination = destination.memory();
        Pull memcpy = blocks -> MemorySegment.copy(limitSource, 0, limitDestination, 0, blocks * s.layout().blockBytes());
        return measure(s, pull, memcpy);
    }

    private static List<Row> measureTcp(Settings s, KvMemory source, KvMemory destination) throws IOException {
        TcpTransferServer.Options serverOptions = new TcpTransferServer.Options(Duration.ofSeconds(120),
                Duration.ofSeconds(30), s.socketBufferBytes(), s.sendfile());
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        try (TcpTransferServer server = TcpTransferServer.start(source, loopback, ReadGuard.ALLOW_ALL,
                TransferListener.NONE, serverOptions);
             TcpTransport client = new TcpTransport(TransferListener.NONE,
                     new TcpTransport.Options(s.tcpWindow(), s.tcpMaxRequestBytes(), s.socketBufferBytes(), 4));
             PlainStream plain = new PlainStream(source.memory(), destination.memory(), s.socketBufferBytes())) {
            Pull pull = transportPull(client, new PullSource(server.endpoint("127.0.0.1"), source.layout(), 0), destination);
            Pull stream = blocks -> plain.fetch(blocks * s.layout().blockBytes());
            return measure(s, pull, stream);
        }
    }

    /** UCX in this process over its shared-memory transport; the limit is memcpy, as for shm. */
    private static List<Row> measureUcx(Settings s, KvMemory source, KvMemory destination, MemorySegment limitSource) {
        InetSocketAddress loopback = new InetSocketAddress(InetAddress.getLoopbackAddress(), 0);
        try (UcxTransferServer server = UcxTransferServer.start(source, loopback, ReadGuard.ALLOW_ALL, TransferListener.NONE);
             UcxTransport client = new UcxTransport(TransferListener.NONE)) {
            Pull pull = transportPull(client, new PullSource(server.endpoint("127.0.0.1"), source.layout(), 0), destination);
            return measureCopyKind(s, source, destination, limitSource, pull);
        }
    }

    private static List<Row> measure(Settings s, Pull transport, Pull limit) {
        List<Row> rows = new ArrayList<>();
        for (int blocks : s.runBlocks()) {
            long bytes = blocks * s.layout().blockBytes();
            int reps = (int) Math.min(20_000, Math.max(s.reps(), (long) s.reps() * 256 / blocks));
            for (int i = 0; i < Math.max(3, reps / 5); i++) { // warm-up: JIT, page faults, connections
                transport.run(blocks);
                limit.run(blocks);
            }
            double[] transportNanos = new double[s.rounds()];
            double[] limitNanos = new double[s.rounds()];
            for (int round = 0; round < s.rounds(); round++) {
                transportNanos[round] = time(transport, blocks, reps);
                limitNanos[round] = time(limit, blocks, reps);
            }
            double t = median(transportNanos);
            double l = median(limitNanos);
            rows.add(new Row(blocks, bytes, bytes / t, bytes / l, t / 1000.0));
        }
        return rows;
    }

    /** Mean nanoseconds per call over {@code reps} calls. */
    private static double time(Pull pull, int blocks, int reps) {
        long start = System.nanoTime();
        for (int i = 0; i < reps; i++) {
            pull.run(blocks);
        }
        return (double) (System.nanoTime() - start) / reps;
    }

    private static double median(double[] values) {
        double[] v = values.clone();
        Arrays.sort(v);
        return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
    }

    /** Formats the rows as the table printed by {@code tandem bench transfer}. */
    public static String table(Settings s, List<Row> rows) {
        StringBuilder out = new StringBuilder();
        String limitName = s.kind() == TransferKind.TCP ? "socket stream" : "memcpy";
        if (s.kind() == TransferKind.UCX) {
            limitName += ", UCX_TLS=" + (System.getenv("UCX_TLS") == null ? UcxSupport.DEFAULT_TLS : System.getenv("UCX_TLS"));
        }
        out.append(String.format(Locale.ROOT, "transport %s, %s (%,d bytes per block), %d rounds, limit = plain %s%n",
                s.kind().label(), s.layout().describe(), s.layout().blockBytes(), s.rounds(), limitName));
        out.append(String.format(Locale.ROOT, "%8s %14s %12s %12s %10s %12s%n", "blocks", "bytes/pull",
                s.kind().label() + " GB/s", "limit GB/s", "% limit", "us/pull"));
        for (Row r : rows) {
            out.append(String.format(Locale.ROOT, "%8d %,14d %12.2f %12.2f %9.1f%% %12.1f%n", r.blocks(), r.bytes(),
                    r.gbPerSecond(), r.limitGbPerSecond(), r.percentOfLimit(), r.microsPerPull()));
        }
        return out.toString();
    }

    /** Formats the rows as one JSON object. */
    public static String json(Settings s, List<Row> rows) {
        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT, "{\"transport\":\"%s\",\"blockBytes\":%d,\"layout\":\"%s\",\"rounds\":%d,"
                + "\"limit\":\"%s\",\"rows\":[", s.kind().label(), s.layout().blockBytes(), s.layout().describe(),
                s.rounds(), s.kind() == TransferKind.TCP ? "socket-stream" : "memcpy"));
        for (int i = 0; i < rows.size(); i++) {
            Row r = rows.get(i);
            out.append(i == 0 ? "" : ",").append(String.format(Locale.ROOT,
                    "{\"blocks\":%d,\"bytes\":%d,\"gbPerSecond\":%.3f,\"limitGbPerSecond\":%.3f,\"percentOfLimit\":%.1f,"
                    + "\"microsPerPull\":%.1f}", r.blocks(), r.bytes(), r.gbPerSecond(), r.limitGbPerSecond(),
                    r.percentOfLimit(), r.microsPerPull()));
        }
        return out.append("]}").toString();
    }

    /**
     * The tcp limit: one loopback socket; the client writes one byte, the server answers with
     * {@code bytes} bytes in one write from native memory, the client reads them into native
     * memory. No framing, no pool logic: the best a request/response stream can do here.
     */
    private static final class PlainStream implements AutoCloseable {
        private final ServerSocketChannel server;
        private final SocketChannel client;
        private final Thread serverThread;
        private final MemorySegment from;
        private final MemorySegment into;
        private final ByteBuffer one = ByteBuffer.allocateDirect(8);

        PlainStream(MemorySegment from, MemorySegment into, int bufferBytes) throws IOException {
            this.from = from;
            this.into = into;
            server = ServerSocketChannel.open().bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            client = SocketChannel.open();
            client.setOption(StandardSocketOptions.TCP_NODELAY, true);
            if (bufferBytes > 0) {
                client.setOption(StandardSocketOptions.SO_RCVBUF, bufferBytes);
            }
            client.connect(server.getLocalAddress());
            SocketChannel accepted = server.accept();
            accepted.setOption(StandardSocketOptions.TCP_NODELAY, true);
            if (bufferBytes > 0) {
                accepted.setOption(StandardSocketOptions.SO_SNDBUF, bufferBytes);
            }
            serverThread = Thread.ofVirtual().name("tandem-bench-plain-stream").start(() -> serve(accepted));
        }

        private void serve(SocketChannel ch) {
            ByteBuffer request = ByteBuffer.allocateDirect(8);
            try (ch) {
                while (true) {
                    request.clear();
                    while (request.hasRemaining()) {
                        if (ch.read(request) < 0) {
                            return;
                        }
                    }
                    long bytes = request.flip().getLong();
                    ByteBuffer out = from.asSlice(0, bytes).asByteBuffer();
                    while (out.hasRemaining()) {
                        ch.write(out);
                    }
                }
            } catch (IOException e) {
                // the benchmark closed the stream
            }
        }

        void fetch(long bytes) {
            try {
                one.clear();
                one.putLong(bytes).flip();
                while (one.hasRemaining()) {
                    client.write(one);
                }
                ByteBuffer in = into.asSlice(0, bytes).asByteBuffer();
                while (in.hasRemaining()) {
                    if (client.read(in) < 0) {
                        throw new IOException("plain stream closed");
                    }
                }
            } catch (IOException e) {
                throw new TandemException("plain socket stream failed: " + e.getMessage(), e);
            }
        }

        @Override
        public void close() throws IOException {
            client.close();
            server.close();
            try {
                serverThread.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
