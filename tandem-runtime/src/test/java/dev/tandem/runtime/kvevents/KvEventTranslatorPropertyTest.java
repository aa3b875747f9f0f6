package dev.tandem.runtime.kvevents;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.BlockHasher;
import dev.tandem.core.KvEvent;
import dev.tandem.router.KvIndexer;
import dev.tandem.router.RouterConfig;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Random engine event streams, encoded as vLLM does and decoded, give the router an index equal
 * to the one built from Tandem events for the same blocks, computed straight from the tokens.
 */
class KvEventTranslatorPropertyTest {
    private static final int BLOCK = 16;

    /** One engine block of the reference model: its engine hash and Tandem sequence hash. */
    private record Block(long engineHash, long sequenceHash) {
    }

    @Test
    void randomStreams_routerIndexEqualsTheOneFromTandemEvents() {
        for (int run = 0; run < 60; run++) {
            long seed = 0x5EED_0000L + run;
            try {
                check(seed);
            } catch (AssertionError | RuntimeException e) {
                throw new AssertionError("seed " + seed + ": " + e.getMessage(), e);
            }
        }
    }

    private static void check(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        KvEventTranslator translator = new KvEventTranslator("w", BLOCK, 100_000);
        RouterConfig config = RouterConfig.defaults().withBlockSizeTokens(BLOCK).withMaxWorkers(4);
        KvIndexer translated = new KvIndexer(config, id -> { }, () -> 0);
        KvIndexer reference = new KvIndexer(config, id -> { }, () -> 0);
        translated.addWorker("w", true);
        reference.addWorker("w", true);
        translator.subscribe(e -> translated.onEvent("w", e));
        long[] referenceId = {0};

        // A few prompts sharing prefixes: a small vocabulary and short roots make shared blocks likely.
        Map<Long, Block> present = new HashMap<>();      // engine hash -> block, as the engine holds them
        List<int[]> prompts = new ArrayList<>();
        for (int p = 0; p < 8; p++) {
            int[] root = prompts.isEmpty() || random.nextBoolean() ? new int[0]
                    : Arrays.copyOf(prompts.get(random.nextInt(prompts.size())), BLOCK * (1 + random.nextInt(2)));
            int[] tokens = Arrays.copyOf(root, BLOCK * (root.length / BLOCK + 1 + random.nextInt(4)));
            for (int i = root.length; i < tokens.length; i++) {
                tokens[i] = random.nextInt(4);
            }
            prompts.add(tokens);
        }
        boolean bytes = random.nextBoolean();
        for (int step = 0; step < 80; step++) {
            VllmPayloads payload = new VllmPayloads(random.nextBoolean() ? VllmPayloads.Encoding.ARRAY
                    : VllmPayloads.Encoding.MAP, bytes);
            List<KvEvent> tandem = new ArrayList<>();
            int kind = random.nextInt(10);
            if (kind < 6) {
                // store a run of blocks of a prompt whose earlier blocks the engine holds
                int[] tokens = prompts.get(random.nextInt(prompts.size()));
                long[] seq = BlockHasher.sequenceHashes(tokens, BLOCK);
                long[] local = BlockHasher.localHashes(tokens, tokens.length, BLOCK);
                int first = 0;
                while (first < seq.length && present.containsKey(engineHash(seq[first]))) {
                    first++;
                }
                if (first == seq.length) {
                    continue;
                }
                int count = 1 + random.nextInt(seq.length - first);
                long[] hashes = new long[count];
                for (int b = 0; b < count; b++) {
                    hashes[b] = engineHash(seq[first + b]);
                    present.put(hashes[b], new Block(hashes[b], seq[first + b]));
                }
                payload.stored(hashes, first == 0 ? null : engineHash(seq[first - 1]),
                        Arrays.copyOfRange(tokens, first * BLOCK, (first + count) * BLOCK), BLOCK);
                tandem.add(new KvEvent.Stored(referenceId[0]++, first > 0, first > 0 ? seq[first - 1] : 0,
                        Arrays.copyOfRange(seq, first, first + count), Arrays.copyOfRange(local, first, first + count)));
            } else if (kind < 9 && !present.isEmpty()) {
                // evict some held blocks, children first as the engine does (leaves of the prefix tree)
                List<Long> held = new ArrayList<>(present.keySet());
                long victim = held.get(random.nextInt(held.size()));
                Block b = present.remove(victim);
                payload.removed(victim);
                tandem.add(new KvEvent.Removed(referenceId[0]++, new long[] {b.sequenceHash()}));
            } else if (kind == 9) {
                present.clear();
                payload.cleared();
                tandem.add(new KvEvent.Cleared(referenceId[0]++));
            } else {
                continue;
            }
            for (EngineKvEvent e : VllmEventDecoder.decode(payload.build(0)).events()) {
                translator.apply(e);
            }
            for (KvEvent e : tandem) {
                reference.onEvent("w", e);
            }
            translator.checkInvariants();
        }
        assertThat(hashesOf(translated)).isEqualTo(hashesOf(reference));
        Set<Long> expected = new HashSet<>();
        present.values().forEach(b -> expected.add(b.sequenceHash()));
        assertThat(hashesOf(translated)).isEqualTo(expected);
        translated.checkInvariants();
    }

    /** The engine's own hash of a block: any function of the block's identity other than Tandem's. */
    private static long engineHash(long tandemSequenceHash) {
        return Long.rotateLeft(tandemSequenceHash * 0x9E37_79B9_7F4A_7C15L, 17) ^ 0xABCDL;
    }

    private static Set<Long> hashesOf(KvIndexer indexer) {
        Set<Long> out = new HashSet<>();
        indexer.index().forEachHashOf(0, out::add);
        return out;
    }
}
