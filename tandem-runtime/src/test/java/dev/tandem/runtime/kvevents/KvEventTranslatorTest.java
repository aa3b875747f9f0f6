package dev.tandem.runtime.kvevents;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvEvent;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class KvEventTranslatorTest {
    private static final int BLOCK = 16;
    /** 4 blocks of 16 tokens. */
    private static final int[] PROMPT = IntStream.range(100, 164).toArray();

    private final KvEventTranslator translator = new KvEventTranslator("w", BLOCK, 1_000);
    private final List<KvEvent> events = new ArrayList<>();

    {
        translator.subscribe(events::add);
    }

    private static EngineKvEvent.BlockStored stored(long[] keys, Long parent, int fromBlock) {
        int[] tokens = Arrays.copyOfRange(PROMPT, fromBlock * BLOCK, (fromBlock + keys.length) * BLOCK);
        return new EngineKvEvent.BlockStored(keys, parent != null, parent == null ? 0 : parent, tokens, BLOCK, true);
    }

    @Test
    void apply_storedInTwoEvents_announcesTandemsChainedHashesOfTheTokens() {
        long[] expected = BlockHasher.sequenceHashes(PROMPT, BLOCK);

        translator.apply(stored(new long[] {901, 902}, null, 0));
        translator.apply(stored(new long[] {903, 904}, 902L, 2));

        assertThat(events).containsExactly(
                new KvEvent.Stored(0, false, 0, Arrays.copyOfRange(expected, 0, 2),
                        Arrays.copyOfRange(BlockHasher.localHashes(PROMPT, PROMPT.length, BLOCK), 0, 2)),
                new KvEvent.Stored(1, true, expected[1], Arrays.copyOfRange(expected, 2, 4),
                        Arrays.copyOfRange(BlockHasher.localHashes(PROMPT, PROMPT.length, BLOCK), 2, 4)));
        assertThat(translator.kvSnapshot().sequenceHashes()).containsExactlyInAnyOrder(expected);
        assertThat(translator.kvSnapshot().lastEventId()).isEqualTo(1);
        translator.checkInvariants();
    }

    @Test
    void apply_unknownParent_blocksAreOrphansAndNotAnnounced() {
        translator.apply(stored(new long[] {903}, 902L, 2));

        assertThat(events).isEmpty();
        assertThat(translator.stats().orphanBlocks()).isEqualTo(1);
        assertThat(translator.kvSnapshot().lastEventId()).isEqualTo(-1);
    }

    @Test
    void apply_removed_retractsTandemHashesAndCountsUnknownKeys() {
        long[] expected = BlockHasher.sequenceHashes(PROMPT, BLOCK);
        translator.apply(stored(new long[] {901, 902, 903}, null, 0));

        translator.apply(new EngineKvEvent.BlockRemoved(new long[] {903, 555}));

        assertThat(events).last().isEqualTo(new KvEvent.Removed(1, new long[] {expected[2]}));
        assertThat(translator.stats().unknownRemovals()).isEqualTo(1);
        assertThat(translator.kvSnapshot().sequenceHashes()).containsExactlyInAnyOrder(expected[0], expected[1]);
        translator.checkInvariants();
    }

    @Test
    void apply_removedOfOnlyUnknownKeys_emitsNothing() {
        translator.apply(new EngineKvEvent.BlockRemoved(new long[] {1, 2}));

        assertThat(events).isEmpty();
        assertThat(translator.stats().unknownRemovals()).isEqualTo(2);
    }

    @Test
    void apply_sameBlockInTwoMedia_retractedOnlyWhenBothAreGone() {
        long gpu = 901;
        long cpu = EngineBlockKeys.inMedium(901, "CPU");
        translator.apply(stored(new long[] {gpu}, null, 0));
        translator.apply(stored(new long[] {cpu}, null, 0));

        translator.apply(new EngineKvEvent.BlockRemoved(new long[] {gpu}));
        assertThat(events).hasSize(2);   // two Stored, no Removed: the CPU copy still holds the block

        translator.apply(new EngineKvEvent.BlockRemoved(new long[] {cpu}));
        assertThat(events).last().isInstanceOf(KvEvent.Removed.class);
        assertThat(translator.kvSnapshot().sequenceHashes()).isEmpty();
        translator.checkInvariants();
    }

    @Test
    void apply_allBlocksCleared_announcesClearedAndChildrenStillChainToKnownParents() {
        long[] expected = BlockHasher.sequenceHashes(PROMPT, BLOCK);
        translator.apply(stored(new long[] {901, 902}, null, 0));

        translator.apply(new EngineKvEvent.AllBlocksCleared());
        translator.apply(stored(new long[] {903}, 902L, 2));

        assertThat(events.get(1)).isEqualTo(new KvEvent.Cleared(1));
        assertThat(events.get(2)).isInstanceOfSatisfying(KvEvent.Stored.class,
                s -> assertThat(s.sequenceHashes()).containsExactly(expected[2]));
        assertThat(translator.kvSnapshot().sequenceHashes()).containsExactly(expected[2]);
    }

    @Test
    void lost_announcesClearedWithTheNextNumber() {
        translator.apply(stored(new long[] {901}, null, 0));

        translator.lost();

        assertThat(events).extracting(KvEvent::eventId).containsExactly(0L, 1L);
        assertThat(events.get(1)).isInstanceOf(KvEvent.Cleared.class);
        assertThat(translator.kvSnapshot().sequenceHashes()).isEmpty();
    }

    @Test
    void apply_blockSizeOtherThanDeclared_isCountedAndDropped() {
        KvEventTranslator tandemSized = new KvEventTranslator("w", 32, 1_000);
        tandemSized.subscribe(events::add);

        tandemSized.apply(stored(new long[] {901, 902}, null, 0));   // blocks of 16 from a worker declaring 32

        assertThat(events).isEmpty();
        assertThat(tandemSized.stats().blockSizeMismatches()).isEqualTo(1);
    }

    @Test
    void apply_notIndexableOrUnknownType_skippedAndCounted() {
        translator.apply(new EngineKvEvent.BlockStored(new long[] {1}, false, 0, Arrays.copyOf(PROMPT, BLOCK), BLOCK,
                false));
        translator.apply(new EngineKvEvent.Unknown("BlockPromoted"));

        assertThat(events).isEmpty();
        assertThat(translator.stats().skippedBlocks()).isEqualTo(1);
        assertThat(translator.stats().unknownEvents()).isEqualTo(1);
    }

    @Test
    void apply_mapOverflows_evictedPresentBlockIsRetracted() {
        KvEventTranslator small = new KvEventTranslator("w", BLOCK, 2);
        small.subscribe(events::add);
        long[] expected = BlockHasher.sequenceHashes(PROMPT, BLOCK);

        small.apply(stored(new long[] {901, 902}, null, 0));
        small.apply(stored(new long[] {903}, 902L, 2));   // 901 is the least recently used

        assertThat(events).last().isEqualTo(new KvEvent.Removed(2, new long[] {expected[0]}));
        assertThat(small.kvSnapshot().sequenceHashes()).containsExactlyInAnyOrder(expected[1], expected[2]);
        small.checkInvariants();
    }

    @Test
    void constructor_nonPositiveSizes_rejected() {
        assertThatThrownBy(() -> new KvEventTranslator("w", 0, 10)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("0 and 10");
    }

    @Test
    void apply_listenerThrows_numberingContinues() {
        translator.subscribe(e -> {
            throw new IllegalStateException("boom");
        });

        translator.apply(stored(new long[] {901}, null, 0));
        translator.apply(stored(new long[] {902}, 901L, 1));

        assertThat(events).extracting(KvEvent::eventId).containsExactly(0L, 1L);
    }
}
