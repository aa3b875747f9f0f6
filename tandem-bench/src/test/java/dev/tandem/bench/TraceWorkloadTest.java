package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TraceWorkloadTest {

    private static int[] tokens(Session s) {
        return ((Step.TokenCompletion) s.steps().getFirst()).recipe().tokens();
    }

    @ParameterizedTest
    @ValueSource(ints = {512, 64, 16})
    void sessions_equalHashIds_equalTokenBlocks_distinctIdsDistinctBlocks(int blockTokens) {
        // rows share prefixes the way Mooncake rows do: [1 2 3], [1 2 4 5], [1 6], [7]
        List<TraceRecord> rows = List.of(
                new TraceRecord(0, 3 * 512, 4, List.of(1L, 2L, 3L)),
                new TraceRecord(10, 3 * 512 + 100, 4, List.of(1L, 2L, 4L, 5L)),
                new TraceRecord(20, 512 + 1, 4, List.of(1L, 6L)),
                new TraceRecord(30, 200, 4, List.of(7L)));
        TraceWorkload w = new TraceWorkload(rows, 512, blockTokens, PromptForm.TOKENS, 3, 259, 0, 0, 42);
        List<Session> sessions = w.sessions();
        Map<Long, List<Integer>> blockOf = new HashMap<>();
        Set<List<Integer>> distinct = new HashSet<>();
        for (int i = 0; i < rows.size(); i++) {
            int[] t = tokens(sessions.get(i));
            List<Long> ids = rows.get(i).hashIds();
            for (int b = 0; b < ids.size(); b++) {
                int from = b * blockTokens;
                int to = Math.min(t.length, from + blockTokens);
                List<Integer> block = Arrays.stream(Arrays.copyOfRange(t, from, to)).boxed().toList();
                if (to - from == blockTokens) { // full blocks: equal ids give equal blocks
                    List<Integer> previous = blockOf.putIfAbsent(ids.get(b), block);
                    if (previous != null) {
                        assertThat(block).as("block of hash id %d", ids.get(b)).isEqualTo(previous);
                    } else {
                        assertThat(distinct.add(block)).as("block of new id %d is new", ids.get(b)).isTrue();
                    }
                } else { // a last, partial block is a prefix of the full block of its id
                    int[] full = new int[blockTokens];
                    w.space().block(ids.get(b), full, 0, blockTokens);
                    assertThat(block).isEqualTo(Arrays.stream(full, 0, to - from).boxed().toList());
                }
            }
        }
        assertThat(blockOf.keySet()).contains(1L, 2L);
        // ids 1 and 2 were reused: prompts 0 and 1 share exactly two blocks
        int[] a = tokens(sessions.get(0));
        int[] b = tokens(sessions.get(1));
        assertThat(Arrays.mismatch(a, b)).isEqualTo(2 * blockTokens);
    }

    @Test
    void sessions_scaledBlocks_lengthsScaleAndTimestampsBecomeOffsets() {
        List<TraceRecord> rows = List.of(new TraceRecord(0, 2 * 512 + 256, 9, List.of(1L, 2L, 3L)),
                new TraceRecord(1500, 100, 2, List.of(4L)));
        TraceWorkload w = new TraceWorkload(rows, 512, 32, PromptForm.TOKENS, 3, 259, 0, 0, 0);
        List<Session> s = w.sessions();
        assertThat(tokens(s.get(0))).hasSize(2 * 32 + 16);            // last block: 256/512 of 32
        assertThat(tokens(s.get(1))).hasSize(7);                      // ceil(100 * 32 / 512) = 7
        assertThat(s.get(0).steps().getFirst().maxTokens()).isEqualTo(9);
        assertThat(s.get(1).arrivalOffsetNs()).isEqualTo(1_500_000_000L);
    }

    @Test
    void sessions_maxInputAndMaxTokens_cutPromptsToAPrefixAndCapOutputs() {
        List<TraceRecord> rows = List.of(new TraceRecord(0, 4 * 512, 300, List.of(1L, 2L, 3L, 4L)));
        TraceWorkload full = new TraceWorkload(rows, 512, 64, PromptForm.TOKENS, 3, 259, 0, 0, 5);
        TraceWorkload cut = new TraceWorkload(rows, 512, 64, PromptForm.TOKENS, 3, 259, 50, 100, 5);
        int[] t = tokens(cut.sessions().getFirst());
        assertThat(t).hasSize(100).isEqualTo(Arrays.copyOf(tokens(full.sessions().getFirst()), 100));
        assertThat(cut.sessions().getFirst().steps().getFirst().maxTokens()).isEqualTo(50);
    }

    @Test
    void sessions_textForm_equalIdsGiveEqualWordBlocks() {
        List<TraceRecord> rows = List.of(new TraceRecord(0, 1024, 4, List.of(8L, 9L)),
                new TraceRecord(0, 1024, 4, List.of(8L, 10L)));
        TraceWorkload w = new TraceWorkload(rows, 512, 16, PromptForm.TEXT, 3, 259, 0, 0, 0);
        String[] a = ((Step.TextCompletion) w.sessions().get(0).steps().getFirst()).text().split(" ");
        String[] b = ((Step.TextCompletion) w.sessions().get(1).steps().getFirst()).text().split(" ");
        assertThat(a).hasSize(32);
        assertThat(Arrays.copyOf(a, 16)).isEqualTo(Arrays.copyOf(b, 16));
        assertThat(Arrays.copyOfRange(a, 16, 32)).isNotEqualTo(Arrays.copyOfRange(b, 16, 32));
    }

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void tokenSpace_distinctIds_neverCollideEvenWithTinyRanges(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        TokenSpace space = new TokenSpace(10, 14, 12, seed); // 4 ids: base-2 self-delimiting spelling
        Set<List<Integer>> seen = new HashSet<>();
        Set<Long> ids = new HashSet<>();
        for (int i = 0; i < 300; i++) {
            long id = r.nextLong(0, 1500);
            int[] block = new int[12];
            space.block(id, block, 0, 12);
            assertThat(Arrays.stream(block).boxed().toList()).allSatisfy(t -> assertThat(t).isBetween(10, 13));
            if (ids.add(id)) {
                assertThat(seen.add(Arrays.stream(block).boxed().toList())).as("id %d", id).isTrue();
            }
        }
    }

    @Test
    void read_mooncakeRows_parsedAndLimited(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("t.jsonl");
        Files.writeString(file, """
                {"timestamp": 0, "input_length": 600, "output_length": 6, "hash_ids": [0, 1]}

                {"timestamp": 27, "input_length": 512, "output_length": 1, "hash_ids": [0]}
                {"timestamp": 40, "input_length": 10, "output_length": 2, "hash_ids": [2]}
                """);
        List<TraceRecord> rows = TraceReader.read(file, 0, 512);
        assertThat(rows).containsExactly(new TraceRecord(0, 600, 6, List.of(0L, 1L)),
                new TraceRecord(27, 512, 1, List.of(0L)), new TraceRecord(40, 10, 2, List.of(2L)));
        assertThat(TraceReader.read(file, 2, 512)).hasSize(2);
    }

    @Test
    void read_sharedSyntheticTrace_allRowsValid() {
        Path trace = TestPaths.shared().resolve("traces/mooncake-synthetic.jsonl");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(trace), "shared trace not present");
        List<TraceRecord> rows = TraceReader.read(trace, 0, 512);
        assertThat(rows).hasSize(3993);
        TraceWorkload w = new TraceWorkload(rows.subList(0, 50), 512, 512, PromptForm.TOKENS, 3, 259, 0, 0, 0);
        assertThat(tokens(w.sessions().getFirst())).hasSize(40160);
    }

    @Test
    void read_badRows_errorNamesTheLine(@TempDir Path dir) throws IOException {
        List<String> bad = new ArrayList<>(List.of(
                "not json",
                "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 6}",
                "{\"timestamp\": 0, \"input_length\": 2000, \"output_length\": 6, \"hash_ids\": [0, 1]}",
                "{\"timestamp\": 0, \"input_length\": 100, \"output_length\": 6, \"hash_ids\": [0, -3]}",
                "{\"timestamp\": \"soon\", \"input_length\": 100, \"output_length\": 6, \"hash_ids\": [0]}",
                "[1, 2]"));
        for (String line : bad) {
            Path file = dir.resolve("bad.jsonl");
            Files.writeString(file, "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [0]}\n"
                    + line + "\n");
            assertThatThrownBy(() -> TraceReader.read(file, 0, 512)).as(line)
                    .isInstanceOf(ConfigException.class).hasMessageContaining("line 2");
        }
        assertThatThrownBy(() -> TraceReader.read(dir.resolve("missing.jsonl"), 0, 512))
                .isInstanceOf(ConfigException.class).hasMessageContaining("missing.jsonl");
    }
}
