package dev.tandem.worker.upstream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvEvent;
import dev.tandem.core.KvLayout;
import dev.tandem.runtime.kvevents.VllmKvEventSubscriber;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.msgpack.core.MessageBufferPacker;
import org.msgpack.core.MessagePack;
import org.zeromq.SocketType;
import org.zeromq.ZContext;
import org.zeromq.ZMQ;

/**
 * An upstream engine given a vLLM server's KV events (a {@link KvEventFeed} from
 * {@link VllmKvEventSubscriber}) announces the server's blocks in Tandem's hashes at the
 * server's block size, instead of its approximate guesses.
 */
@Timeout(60)
class UpstreamKvEventsTest {
    private static final int BLOCK = 16;   // vLLM's default block size, declared by the worker
    private static final UpstreamEngine.Model MODEL = new UpstreamEngine.Model("tiny",
            new KvLayout(BLOCK, 1, 1, 8, KvDtype.F16), 512, 256, text -> text.chars().toArray());
    private static final UpstreamEngine.Limits LIMITS = new UpstreamEngine.Limits(4, 512, 0);

    @Test
    void vllmKvEvents_engineAnnouncesTheServersBlocksInTandemsHashes() throws Exception {
        int[] tokens = IntStream.range(0, 2 * BLOCK).map(i -> 100 + i).toArray();
        List<KvEvent> events = new CopyOnWriteArrayList<>();
        AtomicReference<VllmKvEventSubscriber> subscriber = new AtomicReference<>();
        try (FakeServer server = new FakeServer(); ZContext context = new ZContext()) {
            server.route("/version", e -> FakeServer.answer(e, 200, "{\"version\":\"0.11.0\"}"))
                    .route("/v1/models", e -> FakeServer.answer(e, 200,
                            "{\"data\":[{\"id\":\"org/tiny\",\"max_model_len\":128}]}"));
            ZMQ.Socket pub = context.createSocket(SocketType.PUB);
            pub.setLinger(0);
            int port = pub.bindToRandomPort("tcp://127.0.0.1");
            // the worker's settings as `tandem worker --upstream URL --kv-events tcp://...` makes them
            UpstreamConfig config = UpstreamConfig.of(server.url(), null).withPolling(50, 2_000)
                    .withKvEvents(VllmKvEventSubscriber.Config.of("tcp://127.0.0.1:" + port, null));
            KvEventFeed configured = config.kvEventFeed("w", BLOCK);
            KvEventFeed feed = listener -> {
                AutoCloseable s = configured.start(listener);
                subscriber.set((VllmKvEventSubscriber) s);
                return s;
            };
            assertThat(UpstreamConfig.of(server.url(), null).kvEventFeed("w", BLOCK)).as("no publisher, no feed").isNull();
            try (UpstreamEngine engine = UpstreamEngine.start(config, MODEL, LIMITS, feed);
                 AutoCloseable sub = engine.subscribe(events::add)) {
                await().atMost(Duration.ofSeconds(15)).pollInterval(Duration.ofMillis(50)).until(() -> {
                    pub.send("warm-up");
                    return subscriber.get().stats().malformedMessages() > 0;
                });
                pub.sendMore(new byte[0]);
                pub.sendMore(ByteBuffer.allocate(8).putLong(0).array());
                pub.send(blockStored(new long[] {71, 72}, tokens));

                long[] expected = BlockHasher.sequenceHashes(tokens, BLOCK);
                await().atMost(Duration.ofSeconds(15)).untilAsserted(() ->
                        assertThat(engine.kvSnapshot().sequenceHashes()).containsExactlyInAnyOrder(expected));
                assertThat(events).singleElement().isInstanceOfSatisfying(KvEvent.Stored.class,
                        s -> assertThat(s.sequenceHashes()).containsExactly(expected));
            }
        }
    }

    /** vLLM's positional batch [ts, [["BlockStored", hashes, parent, tokens, block_size, lora_id, medium]]]. */
    private static byte[] blockStored(long[] hashes, int[] tokens) throws IOException {
        try (MessageBufferPacker p = MessagePack.newDefaultBufferPacker()) {
            p.packArrayHeader(2).packDouble(1.0).packArrayHeader(1);
            p.packArrayHeader(7).packString("BlockStored").packArrayHeader(hashes.length);
            for (long h : hashes) {
                p.packLong(h);
            }
            p.packNil().packArrayHeader(tokens.length);
            for (int t : tokens) {
                p.packInt(t);
            }
            p.packInt(BLOCK).packNil().packString("GPU");
            return p.toByteArray();
        }
    }
}
