package dev.tandem.runtime.kvevents;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.runtime.Prerequisites;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * The Python publisher (vllm_kv_publisher.py, pyzmq + msgpack) as a child process: vLLM's exact
 * PUB and ROUTER messages, each batch sent on command. Skips the test without python3-zmq.
 */
final class VllmPublisherProcess implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long REPLY_TIMEOUT_MS = 15_000;

    private final Process process;
    private final Writer stdin;
    private final BlockingQueue<String> lines = new LinkedBlockingQueue<>();
    final int pubPort;
    final int replayPort;

    VllmPublisherProcess() throws IOException {
        String python = Prerequisites.pythonWithZmq();
        Path script = Files.createTempFile("vllm_kv_publisher", ".py");
        try (InputStream in = VllmPublisherProcess.class.getResourceAsStream("vllm_kv_publisher.py")) {
            Files.write(script, in.readAllBytes());
        }
        script.toFile().deleteOnExit();
        process = new ProcessBuilder(python, script.toString()).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        stdin = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
        Thread reader = Thread.ofPlatform().daemon().name("vllm-publisher-stdout").start(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                    StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    lines.add(line);
                }
            } catch (IOException e) {
                lines.add("error " + e);
            }
        });
        String[] ready = reply().split(" ");
        if (!ready[0].equals("ready")) {
            close();
            throw new IllegalStateException("publisher did not start: " + String.join(" ", ready));
        }
        pubPort = Integer.parseInt(ready[1]);
        replayPort = Integer.parseInt(ready[2]);
    }

    String endpoint() {
        return "tcp://127.0.0.1:" + pubPort;
    }

    String replayEndpoint() {
        return "tcp://127.0.0.1:" + replayPort;
    }

    /** Publishes one batch (or only buffers it for replays when {@code publish} is false); returns its seq. */
    long batch(String encoding, String hashes, boolean publish, List<Map<String, Object>> events) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("op", "batch");
        c.put("encoding", encoding);
        c.put("hashes", hashes);
        c.put("publish", publish);
        c.put("events", events);
        return Long.parseLong(command(c).substring("seq ".length()));
    }

    long payload(byte[] payload, boolean publish) {
        return Long.parseLong(command(Map.of("op", "payload", "hex", HexFormat.of().formatHex(payload),
                "publish", publish)).substring("seq ".length()));
    }

    void raw(byte[]... frames) {
        List<String> hex = java.util.Arrays.stream(frames).map(HexFormat.of()::formatHex).toList();
        command(Map.of("op", "raw", "frames", hex));
    }

    void forget(long below) {
        command(Map.of("op", "forget", "below", below));
    }

    void restart() {
        command(Map.of("op", "restart"));
    }

    private String command(Map<String, Object> command) {
        try {
            stdin.write(JSON.writeValueAsString(command) + "\n");
            stdin.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        String reply = reply();
        if (reply.startsWith("error")) {
            throw new IllegalStateException("publisher: " + reply);
        }
        return reply;
    }

    private String reply() {
        try {
            String line = lines.poll(REPLY_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            if (line == null) {
                throw new IllegalStateException("publisher did not answer within " + REPLY_TIMEOUT_MS + " ms");
            }
            return line;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    static Map<String, Object> stored(long[] hashes, Long parent, int[] tokens, int blockSize) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", "BlockStored");
        e.put("block_hashes", hashes);
        e.put("parent_block_hash", parent);
        e.put("token_ids", tokens);
        e.put("block_size", blockSize);
        e.put("lora_id", null);
        e.put("medium", "GPU");
        e.put("lora_name", null);
        return e;
    }

    static Map<String, Object> removed(long... hashes) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("type", "BlockRemoved");
        e.put("block_hashes", hashes);
        e.put("medium", "GPU");
        return e;
    }

    static Map<String, Object> cleared() {
        return Map.of("type", "AllBlocksCleared");
    }

    @Override
    public void close() {
        try {
            stdin.write("{\"op\": \"exit\"}\n");
            stdin.flush();
        } catch (IOException ignored) {
            // already gone
        }
        try {
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            process.destroyForcibly();
        }
    }
}
