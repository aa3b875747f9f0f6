package dev.tandem.worker;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvHandle;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.VirtualClock;
import dev.tandem.engine.scheduler.NanoClock;
import dev.tandem.runtime.RuntimeConfig;
import dev.tandem.runtime.metrics.DisaggMetrics;
import dev.tandem.runtime.transfer.HostIdentity;
import dev.tandem.runtime.transfer.LocalPools;
import dev.tandem.runtime.transfer.TransferConfig;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Both halves of disaggregation on the real engine (stories260K), without the frontend: the
 * prefill worker's pins (released once, expiring after the TTL, never made for a cancelled
 * prefill) and the decode worker's import (blocks freed on every path).
 */
@Timeout(60)
class DisaggEngineTest {
    private static final int[] PROMPT = prompt(50);
    private final DisaggMetrics metrics = new DisaggMetrics();
    private final PinReleaser releaser = new PinReleaser(RuntimeConfig.defaults());
    private final List<DisaggEngine> started = new ArrayList<>();

    @AfterEach
    void tearDown() {
        started.forEach(DisaggEngine::close);
        releaser.close();
    }

    private static Path model() {
        return Path.of(System.getProperty("tandem.test.models", "../../shared/models")).resolve("stories260K.gguf");
    }

    private static int[] prompt(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = 10 + (i * 7) % 300;
        }
        return p;
    }

    private DisaggEngine start(String id, long pinTtlMs) {
        return start(id, pinTtlMs, NanoClock.system());
    }

    /** A prefill worker whose engine (and so its pins' expiry) runs on {@code clock}. */
    private DisaggEngine start(String id, long pinTtlMs, NanoClock clock) {
        LlmEngine engine = LlmEngine.builderForModel(model(), EngineConfig.DEFAULT.withKvBlocks(64).withMaxSequences(8)
                .withPinTtlMs(pinTtlMs), 1).clock(clock).build();
        DisaggEngine d = DisaggEngine.start(id, engine, new TransferConfig(Set.of(TransferKind.LOCAL), "127.0.0.1",
                0, 0, "127.0.0.1", HostIdentity.local()), LocalPools.shared(), releaser, metrics, 5_000);
        started.add(d);
        return d;
    }

    private static int activeBlocks(DisaggEngine d) {
        return d.engine().load().activeBlocks();
    }

    @Test
    void prefill_handleNeverReleased_pinExpiresAfterTtlAndBlocksReturn() throws Exception {
        VirtualClock clock = new VirtualClock();
        DisaggEngine p = start("p-ttl", 3_000, clock);

        PrefillResult r = p.prefill(GenerateRequest.greedy("ttl-1", PROMPT, 8)).get(10, TimeUnit.SECONDS);

        assertThat(r.handle().blockIds()).hasSize((PROMPT.length + 15) / 16);
        clock.advanceBy(TimeUnit.MILLISECONDS.toNanos(2_999));
        p.kvSnapshot(); // a turn of the engine just before the TTL: the pin stays
        assertThat(p.activePins()).isEqualTo(1);
        assertThat(activeBlocks(p)).isEqualTo(r.handle().blockCount());
        clock.advanceBy(TimeUnit.MILLISECONDS.toNanos(1));
        p.kvSnapshot(); // a turn of the engine at the TTL: the pin expires
        await().atMost(Duration.ofSeconds(10)).until(() -> p.activePins() == 0 && activeBlocks(p) == 0);
        assertThat(p.release(r.handle().handleId())).isFalse();
    }

    @Test
    void prefill_handleHashes_theEnginesPrefixCacheHashesWithZeroForThePartialBlock() throws Exception {
        DisaggEngine p = start("p-hashes", 30_000);
        // a second prompt sharing the first's leading blocks: those come from the prefix cache
        int[] longer = java.util.Arrays.copyOf(PROMPT, PROMPT.length + 20);
        System.arraycopy(prompt(20), 0, longer, PROMPT.length, 20);
        for (int[] prompt : List.of(PROMPT, longer)) {
            PrefillResult r = p.prefill(GenerateRequest.greedy("hashes-" + prompt.length, prompt, 8))
                    .get(10, TimeUnit.SECONDS);
            long[] full = dev.tandem.core.BlockHasher.sequenceHashes(prompt, 16);
            long[] expected = java.util.Arrays.copyOf(full, (prompt.length + 15) / 16);

            assertThat(r.handle().sequenceHashes()).as("%d-token prompt", prompt.length).containsExactly(expected);
            assertThat(expected[expected.length - 1]).as("its last block is partial").isZero();
            assertThat(p.release(r.handle().handleId())).isTrue();
        }
    }

    @Test
    void release_twice_pinReleasedExactlyOnce() throws Exception {
        DisaggEngine p = start("p-once", 30_000);
        PrefillResult r = p.prefill(GenerateRequest.greedy("once-1", PROMPT, 8)).get(10, TimeUnit.SECONDS);

        assertThat(p.release(r.handle().handleId())).isTrue();
        assertThat(p.release(r.handle().handleId())).isFalse();

        assertThat(metrics.pinsReleased()).isEqualTo(1);
        assertThat(p.activePins()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> activeBlocks(p) == 0);
    }

    @Test
    void prefill_cancelledByCaller_noPinAndNoBlockLeft() throws Exception {
        DisaggEngine p = start("p-cancel", 30_000);
        for (int i = 0; i < 8; i++) {
            p.prefill(GenerateRequest.greedy("cancel-" + i, prompt(40 + i * 9), 8)).cancel(true);
        }

        await().atMost(Duration.ofSeconds(5)).until(() -> p.activePins() == 0 && activeBlocks(p) == 0
                && p.engine().load().runningSequences() == 0 && p.engine().load().waitingSequences() == 0);
    }

    @Test
    void import_pullsEveryBlock_decodesFromTheFirstTokenAndReleasesThePin() throws Exception {
        DisaggEngine p = start("p-imp", 30_000);
        DisaggEngine d = start("d-imp", 30_000);
        PrefillResult r = p.prefill(GenerateRequest.greedy("imp-1", PROMPT, 6)).get(10, TimeUnit.SECONDS);
        RecordingSink aggregated = new RecordingSink();
        p.submit(GenerateRequest.greedy("agg-1", PROMPT, 6), aggregated);
        assertThat(aggregated.awaitDone(10_000)).isTrue();

        RecordingSink sink = new RecordingSink();
        d.submit(GenerateRequest.greedy("imp-1", PROMPT, 6).withRemotePrefill(
                new RemotePrefill(r.firstToken(), r.handle(), "", false)), sink);

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.reason).isEqualTo(FinishReason.LENGTH);
        assertThat(sink.tokens).extracting(t -> t.tokenId())
                .containsExactlyElementsOf(aggregated.tokens.stream().map(t -> t.tokenId()).toList());
        assertThat(metrics.transfer().snapshot(TransferKind.LOCAL).blocks()).isEqualTo(r.handle().blockCount());
        assertThat(d.engine().load().promptTokens()).isEqualTo(PROMPT.length);
        await().atMost(Duration.ofSeconds(5)).until(() -> p.activePins() == 0 && activeBlocks(d) == 0);
    }

    @Test
    void import_cancelledRightAway_reservationFreedAndPinReleased() throws Exception {
        DisaggEngine p = start("p-ic", 30_000);
        DisaggEngine d = start("d-ic", 30_000);
        for (int i = 0; i < 6; i++) {
            PrefillResult r = p.prefill(GenerateRequest.greedy("ic-" + i, prompt(30 + 11 * i), 32))
                    .get(10, TimeUnit.SECONDS);
            RecordingSink sink = new RecordingSink();
            RequestHandle h = d.submit(GenerateRequest.greedy("ic-" + i, prompt(30 + 11 * i), 32).withRemotePrefill(
                    new RemotePrefill(r.firstToken(), r.handle(), "", false)), sink);
            h.cancel();
            assertThat(sink.awaitDone(10_000)).isTrue();
        }

        await().atMost(Duration.ofSeconds(5)).until(() -> p.activePins() == 0 && activeBlocks(p) == 0
                && activeBlocks(d) == 0);
    }

    @Test
    void import_handleFromAnotherPrompt_fallsBackToLocalPrefillAndFreesEverything() throws Exception {
        DisaggEngine p = start("p-mm", 30_000);
        DisaggEngine d = start("d-mm", 30_000);
        PrefillResult r = p.prefill(GenerateRequest.greedy("mm-1", prompt(20), 4)).get(10, TimeUnit.SECONDS);
        // a handle of 2 blocks presented for a prompt of 4 blocks (as a confused or hostile caller might)
        KvHandle h = r.handle();
        KvHandle wrong = new KvHandle(h.handleId(), h.workerId(), h.endpoints(), h.blockIds(), h.sequenceHashes(),
                PROMPT.length, h.layout(), h.expiresAtEpochMs());

        RecordingSink sink = new RecordingSink();
        d.submit(GenerateRequest.greedy("mm-1", PROMPT, 4).withRemotePrefill(
                new RemotePrefill(r.firstToken(), wrong, "", false)), sink);

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.error).isNull();
        assertThat(sink.tokens).hasSize(4);
        assertThat(metrics.fallbacks("handle_mismatch")).isEqualTo(1);
        await().atMost(Duration.ofSeconds(5)).until(() -> p.activePins() == 0 && activeBlocks(p) == 0
                && activeBlocks(d) == 0);
    }

    @Test
    void import_handleOfAnExternalEngine_fallsBackToLocalPrefillWithoutReservingOrReleasing() throws Exception {
        DisaggEngine d = start("d-nixl", 30_000);
        KvHandle nixl = new KvHandle(5, "upstream-prefill-0", List.of(new TransferEndpoint(TransferKind.NIXL, "",
                "http://127.0.0.1:1")), new int[0], new long[0], PROMPT.length, d.engine().info().layout(),
                System.currentTimeMillis() + 60_000, "{\"remote_engine_id\":\"e\"}");

        RecordingSink sink = new RecordingSink();
        d.submit(GenerateRequest.greedy("nixl-1", PROMPT, 4).withRemotePrefill(
                new RemotePrefill(GeneratedToken.of(300), nixl, "127.0.0.1:1", false)), sink);

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.error).isNull();
        assertThat(sink.tokens).hasSize(4);
        assertThat(metrics.fallbacks("handle_foreign")).isEqualTo(1);
        assertThat(metrics.pinsReleased()).isZero();
        await().atMost(Duration.ofSeconds(5)).until(() -> activeBlocks(d) == 0);
    }

    @Test
    void import_enforcedAndPullFails_unavailableErrorAndNothingHeld() throws Exception {
        DisaggEngine p = start("p-enf", 30_000);
        DisaggEngine d = start("d-enf", 30_000);
        PrefillResult r = p.prefill(GenerateRequest.greedy("enf-1", PROMPT, 4)).get(10, TimeUnit.SECONDS);
        p.close(); // the prefill worker is gone: its pool is withdrawn, the pull cannot happen

        RecordingSink sink = new RecordingSink();
        d.submit(GenerateRequest.greedy("enf-1", PROMPT, 4).withRemotePrefill(
                new RemotePrefill(r.firstToken(), r.handle(), "", true)), sink);

        assertThat(sink.awaitDone(10_000)).isTrue();
        assertThat(sink.tokens).isEmpty();
        assertThat(sink.error).isInstanceOf(RequestException.class).hasMessageContaining("enforced");
        assertThat(((RequestException) sink.error).kind()).isEqualTo(RequestException.Kind.UNAVAILABLE);
        await().atMost(Duration.ofSeconds(5)).until(() -> activeBlocks(d) == 0);
    }
}
