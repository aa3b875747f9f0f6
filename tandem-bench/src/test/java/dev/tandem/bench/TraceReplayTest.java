package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.ConfigException;
import dev.tandem.router.RouterConfig;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TraceReplayTest {

    private static TraceRecord row(long t, int in, int out, long... ids) {
        return new TraceRecord(t, in, out, java.util.Arrays.stream(ids).boxed().toList());
    }

    /**
     * Eight documents of four 512-token blocks; 120 requests, 150 ms apart, each a random
     * document plus one block of its own. Returned as JSON lines.
     */
    static List<String> sharedPrefixTrace() {
        SplittableRandom rnd = new SplittableRandom(3);
        List<String> lines = new ArrayList<>();
        long unique = 1000;
        for (int i = 0; i < 120; i++) {
            int doc = rnd.nextInt(8);
            StringBuilder ids = new StringBuilder();
            for (int b = 0; b < 4; b++) {
                ids.append(doc * 10 + b).append(", ");
            }
            ids.append(unique++);
            lines.add("{\"timestamp\": " + i * 150 + ", \"input_length\": " + (4 * 512 + 300)
                    + ", \"output_length\": 4, \"hash_ids\": [" + ids + "]}");
        }
        return lines;
    }

    @Test
    void idealHitRate_countsLeadingBlocksSeenBefore() {
        // hits: [1,2,3] -> 0; [1,2,4] -> 2; [5] -> 0; [1,2,3,6] -> 3.  5 of 11 block references.
        List<TraceRecord> rows = List.of(row(0, 1536, 1, 1, 2, 3), row(1, 1536, 1, 1, 2, 4), row(2, 512, 1, 5),
                row(3, 2048, 1, 1, 2, 3, 6));
        assertThat(TraceReplay.idealHitRate(rows)).isEqualTo(5.0 / 11);
    }

    @Test
    void tokens_equalBlockIdsGiveEqualTokens() {
        int[] a = TraceReplay.tokens(row(0, 1000, 1, 7, 8));
        int[] b = TraceReplay.tokens(row(0, 600, 1, 7, 9));
        assertThat(a).hasSize(1000);
        assertThat(java.util.Arrays.copyOf(a, 512)).isEqualTo(java.util.Arrays.copyOf(b, 512));
        assertThat(java.util.Arrays.copyOfRange(a, 512, 600)).isNotEqualTo(java.util.Arrays.copyOfRange(b, 512, 600));
    }

    @Test
    void run_sharedPrefixes_kvFindsTheCacheAndRoundRobinDoesNot(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("t.jsonl");
        Files.write(f, sharedPrefixTrace());
        List<TraceRecord> rows = TraceReplay.read(f, 0);
        TraceReplay.Result kv = TraceReplay.run(rows, options(RouterConfig.PolicyKind.KV));
        TraceReplay.Result rr = TraceReplay.run(rows, options(RouterConfig.PolicyKind.ROUND_ROBIN));

        assertThat(kv.requests()).isEqualTo(120);
        assertThat(kv.failed()).isZero();
        // Ideal: every request after the first of its document reuses 4 of its 5 blocks.
        assertThat(kv.idealHitRate()).isEqualTo(4.0 * (120 - 8) / (5 * 120));
        assertThat(kv.hitRate()).as("kv").isGreaterThan(0.9 * kv.idealHitRate());
        assertThat(rr.hitRate()).as("round-robin").isLessThan(0.7 * kv.hitRate());
        assertThat(kv.overlapAgreement()).as("predicted overlap = cached tokens").isEqualTo(1.0);
        assertThat(kv.ttftMeanMs()).isLessThan(rr.ttftMeanMs());
        assertThat(kv.ttftP99Ms()).isGreaterThanOrEqualTo(kv.ttftP50Ms());
        assertThat(kv.e2eMeanMs()).isGreaterThan(kv.ttftMeanMs());
        assertThat(rr.maxOverMeanPromptTokens()).isEqualTo(1.0);   // 120 equal prompts over 4 workers
        assertThat(kv.simulatedSeconds()).isGreaterThan(17.8);        // the last arrival is at 17.85 s
    }

    private static TraceReplay.Options options(RouterConfig.PolicyKind policy) {
        // 16 blocks a worker: room for about two of the eight documents, so only a router that
        // partitions documents across workers keeps hitting.
        return new TraceReplay.Options(4, policy, 512, 16 * 512, 8192, 0, 1, 1.0, 0.0);
    }

    @Test
    void options_badValues_areConfigErrors() {
        assertThatThrownBy(() -> new TraceReplay.Options(0, RouterConfig.PolicyKind.KV, 512, 1 << 20, 8192, 0, 1, 1, 0))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--workers");
        assertThatThrownBy(() -> new TraceReplay.Options(8, RouterConfig.PolicyKind.KV, 512, 100, 8192, 0, 1, 1, 0))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--kv-tokens");
    }
}
