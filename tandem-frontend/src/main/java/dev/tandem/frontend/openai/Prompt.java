package dev.tandem.frontend.openai;

import java.util.Arrays;

/** One completion prompt as the client sent it: text, or token ids. */
public sealed interface Prompt permits Prompt.Text, Prompt.Tokens {

    record Text(String text) implements Prompt {
    }

    /** Token ids, already validated against the vocabulary by the frontend. */
    record Tokens(int[] ids) implements Prompt {
        public Tokens {
            ids = ids.clone();
        }

        @Override
        public int[] ids() {
            return ids.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Tokens t && Arrays.equals(ids, t.ids);
        }

        @Override
        public int hashCode() {
            return Arrays.hashCode(ids);
        }

        @Override
        public String toString() {
            return "Tokens[" + ids.length + " ids]";
        }
    }
}
