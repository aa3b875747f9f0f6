package dev.tandem.bench;

import java.util.List;

/** How to make a token-id prompt when its request is sent. */
public sealed interface TokenRecipe permits TokenRecipe.Blocks, TokenRecipe.Random {

    /** Prompt length in tokens. */
    int tokenCount();

    /** The prompt's token ids (a new array each call). */
    int[] tokens();

    /**
     * A prompt made of whole blocks named by hash ids (a trace row): block {@code i} of the prompt
     * is {@code space.block(hashIds[i])}; the last block is cut to make {@code tokenCount} tokens.
     */
    record Blocks(TokenSpace space, List<Long> hashIds, int tokenCount) implements TokenRecipe {
        public Blocks {
            hashIds = List.copyOf(hashIds);
            int max = hashIds.size() * space.blockTokens();
            if (tokenCount < 1 || tokenCount > max || tokenCount <= max - space.blockTokens()) {
                throw new IllegalArgumentException("a prompt of " + hashIds.size() + " blocks of " + space.blockTokens()
                        + " tokens has " + (max - space.blockTokens() + 1) + ".." + max + " tokens, got " + tokenCount);
            }
        }

        @Override
        public int[] tokens() {
            int[] out = new int[tokenCount];
            int blockTokens = space.blockTokens();
            for (int i = 0; i < hashIds.size(); i++) {
                int offset = i * blockTokens;
                space.block(hashIds.get(i), out, offset, Math.min(blockTokens, tokenCount - offset));
            }
            return out;
        }
    }

    /** {@code tokenCount} pseudo-random ids, a pure function of {@code (space, streamId)}. */
    record Random(TokenSpace space, long streamId, int tokenCount) implements TokenRecipe {
        public Random {
            if (tokenCount < 1) {
                throw new IllegalArgumentException("tokenCount must be >= 1, got " + tokenCount);
            }
        }

        @Override
        public int[] tokens() {
            return space.random(streamId, tokenCount);
        }
    }
}
