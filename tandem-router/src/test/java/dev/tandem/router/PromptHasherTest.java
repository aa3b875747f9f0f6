package dev.tandem.router;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.BlockHasher;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class PromptHasherTest {

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void sequenceHashes_randomPrompts_equalBlockHasher(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int blockSize = 1 + rnd.nextInt(64);
        int tokenCount = rnd.nextInt(40 * blockSize);
        int[] tokens = new int[tokenCount + rnd.nextInt(8)];      // trailing tokens beyond the count
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = rnd.nextInt();
        }
        long[] expected = BlockHasher.sequenceHashes(tokens, tokenCount, blockSize);
        long[] out = new long[expected.length + 3];
        Arrays.fill(out, 42L);

        int blocks = new PromptHasher(blockSize).sequenceHashes(tokens, tokenCount, out);

        assertThat(blocks).as("seed %d", seed).isEqualTo(expected.length);
        assertThat(Arrays.copyOf(out, blocks)).as("seed %d", seed).containsExactly(expected);
        assertThat(Arrays.copyOfRange(out, blocks, out.length)).as("untouched tail").containsOnly(42L);
    }

    @Test
    void sequenceHashes_reusedHasher_giveSameHashesEachTime() {
        PromptHasher h = new PromptHasher(16);
        int[] tokens = new int[100];
        Arrays.setAll(tokens, i -> i * 7);
        long[] first = h.sequenceHashes(tokens);
        long[] second = h.sequenceHashes(tokens);

        assertThat(first).hasSize(6).containsExactly(second).containsExactly(BlockHasher.sequenceHashes(tokens, 16));
    }

    @Test
    void sequenceHashes_outTooShort_throwsNamingSizes() {
        PromptHasher h = new PromptHasher(4);

        assertThatThrownBy(() -> h.sequenceHashes(new int[16], 16, new long[3]))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("4 blocks").hasMessageContaining("array of 3");
    }

    @Test
    void constructor_zeroBlockSize_throws() {
        assertThatThrownBy(() -> new PromptHasher(0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("blockSizeTokens");
    }
}
