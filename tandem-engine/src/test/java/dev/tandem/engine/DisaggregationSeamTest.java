package dev.tandem.engine;

import static dev.tandem.engine.TestEngines.config;
import static dev.tandem.engine.TestEngines.driven;
import static dev.tandem.engine.TestEngines.prompt;
import static dev.tandem.engine.TestEngines.runToIdle;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.KvEvent;
import dev.tandem.core.RecordingSink;
import dev.tandem.core.RequestException;
import dev.tandem.engine.kvcache.EventLog;
import dev.tandem.engine.kvcache.KvPool;
import dev.tandem.engine.mock.VirtualClock;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * Prefill on one engine, pin the prompt's blocks, copy them into another engine's reserved
 * blocks and decode there: the tokens equal a single engine's.
 */
class DisaggregationSeamTest {
    private static final int VOCAB = 40;
    private final VirtualClock clock = new VirtualClock();

    @Test
    void prefillPinCopyImport_decodeEngineContinuesWithReferenceTokens() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        int[] p = prompt(31, 23, VOCAB);
        int[] reference = runner.greedy(p, 12, new int[0]);
        try (LlmEngine prefill = driven(runner, config(32, 64, 4), clock);
             LlmEngine decode = driven(runner, config(32, 64, 4), clock)) {
            // the decode engine already holds the first 2 blocks of the prompt
            decode.submit(GenerateRequest.greedy("warm", java.util.Arrays.copyOf(p, 9), 1), new RecordingSink(clock::nanoTime));
            runToIdle(decode);

            List<PromptPin> pins = new ArrayList<>();
            RecordingSink first = new RecordingSink(clock::nanoTime);
            prefill.submit(GenerateRequest.greedy("req", p, 1), first, pins::add);
            runToIdle(prefill);
            assertThat(first.ids()).containsExactly(reference[0]);
            assertThat(pins).hasSize(1);
            PromptPin pin = pins.getFirst();
            assertThat(pin.blockCount()).isEqualTo(6);
            assertThat(prefill.load().activeBlocks()).as("pinned after finish").isEqualTo(6);

            ImportReservation r = decode.reserveImport(GenerateRequest.greedy("req", p, 12)).join();
            assertThat(r.cachedTokens()).isEqualTo(8);
            assertThat(r.firstBlockToFill()).isEqualTo(2);
            copyBlocks(prefill.pool(), pin.blockIds(), decode.pool(), r.blockIds(), r.firstBlockToFill());
            assertThat(prefill.releasePin(pin.pinId()).join()).isTrue();
            assertThat(prefill.load().activeBlocks()).isZero();

            EventLog log = new EventLog();
            decode.subscribe(log);
            RecordingSink rest = new RecordingSink(clock::nanoTime);
            decode.startImported(r, first.ids()[0], rest);
            runToIdle(decode);
            assertThat(rest.ids()).containsExactly(java.util.Arrays.copyOfRange(reference, 1, 12));
            assertThat(rest.reason).isEqualTo(FinishReason.LENGTH);
            assertThat(rest.usage.cachedPromptTokens()).isEqualTo(8);
            assertThat(rest.usage.transferredPromptTokens()).isEqualTo(15);
            assertThat(rest.usage.completionTokens()).isEqualTo(12);
            assertThat(log.events.getFirst()).isInstanceOfSatisfying(KvEvent.Stored.class,
                    s -> assertThat(s.sequenceHashes()).hasSize(3)); // imported full blocks 2..4 registered
            decode.checkInvariants();
            TestEngines.assertAllBlocksReturned(decode);
        }
    }

    @Test
    void pin_notReleased_expiresAfterTtl() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = driven(runner, config(32, 64, 4).withPinTtlMs(500), clock)) {
            List<PromptPin> pins = new ArrayList<>();
            engine.submit(GenerateRequest.greedy("req", prompt(1, 10, VOCAB), 1), new RecordingSink(clock::nanoTime), pins::add);
            runToIdle(engine);
            assertThat(engine.load().activeBlocks()).isEqualTo(3);
            assertThat(engine.nextWakeNanos()).isEqualTo(pins.getFirst().expiresAtNanos());
            clock.advanceBy(499_000_000L);
            engine.doWork();
            assertThat(engine.load().activeBlocks()).isEqualTo(3);
            clock.advanceBy(1_000_000L);
            engine.doWork();
            assertThat(engine.load().activeBlocks()).isZero();
            assertThat(engine.releasePin(pins.getFirst().pinId()).join()).isFalse();
            engine.checkInvariants();
        }
    }

    @Test
    void pinCovers_pinnedBlocksUntilTheMarginBeforeExpiry_thenNothingAfterRelease() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = driven(runner, config(32, 64, 4).withPinTtlMs(1_000), clock)) {
            List<PromptPin> pins = new ArrayList<>();
            engine.submit(GenerateRequest.greedy("req", prompt(1, 10, VOCAB), 1), new RecordingSink(clock::nanoTime), pins::add);
            runToIdle(engine);
            PromptPin pin = pins.getFirst();
            int[] sorted = pin.blockIds();
            java.util.Arrays.sort(sorted);
            int outside = java.util.stream.IntStream.range(0, 32)
                    .filter(b -> java.util.Arrays.binarySearch(sorted, b) < 0).findFirst().orElseThrow();
            long margin = 200_000_000L;

            assertThat(engine.activePins()).isEqualTo(1);
            for (int b : pin.blockIds()) {
                assertThat(engine.pinCovers(pin.pinId(), b, 1, margin)).as("block %d", b).isTrue();
            }
            assertThat(engine.pinCovers(pin.pinId(), outside, 1, margin)).as("a block the pin does not hold").isFalse();
            assertThat(engine.pinCovers(pin.pinId() + 1, pin.blockIds()[0], 1, margin)).as("another pin id").isFalse();

            clock.advanceBy(1_000_000_000L - margin);
            assertThat(engine.pinCovers(pin.pinId(), pin.blockIds()[0], 1, margin))
                    .as("a read starting within the margin of the expiry").isFalse();
            assertThat(engine.activePins()).as("not expired yet").isEqualTo(1);

            assertThat(engine.releasePin(pin.pinId()).join()).isTrue();
            assertThat(engine.activePins()).isZero();
            assertThat(engine.pinCovers(pin.pinId(), pin.blockIds()[0], 1, 0)).isFalse();
            engine.checkInvariants();
        }
    }

    @Test
    void pin_requestCancelled_pinsNothing() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = driven(runner, config(32, 64, 4), clock)) {
            List<PromptPin> pins = new ArrayList<>();
            var h = engine.submit(GenerateRequest.greedy("req", prompt(1, 10, VOCAB), 5), new RecordingSink(clock::nanoTime), pins::add);
            engine.doWork();
            h.cancel();
            runToIdle(engine);
            assertThat(pins).isEmpty();
            TestEngines.assertAllBlocksReturned(engine);
        }
    }

    @Test
    void reserveImport_poolFull_failsUnavailableAndHoldsNothing() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = driven(runner, config(6, 64, 4), clock)) {
            engine.submit(GenerateRequest.greedy("big", prompt(2, 16, VOCAB), 4), new RecordingSink(clock::nanoTime));
            engine.doWork();
            assertThatThrownBy(() -> engine.reserveImport(GenerateRequest.greedy("req", prompt(3, 12, VOCAB), 2)).join())
                    .isInstanceOf(CompletionException.class)
                    .cause().isInstanceOfSatisfying(RequestException.class,
                            e -> assertThat(e.kind()).isEqualTo(RequestException.Kind.UNAVAILABLE))
                    .hasMessageContaining("free KV blocks");
            engine.checkInvariants();
        }
    }

    @Test
    void reservation_unused_expiresAndCancelImportIsIdempotent() {
        HistoryModelRunner runner = new HistoryModelRunner(VOCAB, 256);
        try (LlmEngine engine = driven(runner, config(16, 64, 4).withPinTtlMs(100), clock)) {
            ImportReservation r = engine.reserveImport(GenerateRequest.greedy("req", prompt(3, 12, VOCAB), 2)).join();
            assertThat(engine.load().activeBlocks()).isEqualTo(3);
            clock.advanceBy(100_000_000L);
            engine.doWork();
            assertThat(engine.load().activeBlocks()).isZero();
            assertThat(engine.cancelImport(r).join()).isFalse();
            RecordingSink late = new RecordingSink(clock::nanoTime);
            engine.startImported(r, 1, late);
            engine.doWork();
            assertThat(late.error).isInstanceOf(RequestException.class).hasMessageContaining("unknown or expired");
            engine.checkInvariants();
            assertThat(engine.isIdle()).isTrue();
        }
    }

    private static void copyBlocks(KvPool from, int[] src, KvPool to, int[] dst, int firstToFill) {
        for (int i = firstToFill; i < dst.length; i++) {
            MemorySegment.copy(from.block(src[i]), 0, to.block(dst[i]), 0, from.blockBytes());
        }
    }
}
