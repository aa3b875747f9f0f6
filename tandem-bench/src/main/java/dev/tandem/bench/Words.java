package dev.tandem.bench;

import java.util.List;
import java.util.SplittableRandom;

/**
 * Deterministic prompt text from a fixed list of 269 short, common English words (the kind a
 * small story model's tokenizer encodes in one or two tokens each). Text {@code (stream, n)} is a
 * pure function of the seed, so every run with the same seed sends the same prompts.
 */
public final class Words {
    static final List<String> LIST = List.of(
            "the", "a", "and", "to", "was", "he", "she", "it", "they", "we", "you", "i", "in", "on", "with", "of",
            "little", "big", "small", "happy", "sad", "good", "bad", "new", "old", "red", "blue", "green", "yellow",
            "dog", "cat", "bird", "fish", "tree", "park", "ball", "box", "car", "boat", "house", "room", "door",
            "girl", "boy", "mom", "dad", "friend", "sun", "moon", "star", "sky", "rain", "snow", "wind", "day",
            "night", "time", "toy", "book", "cake", "apple", "milk", "bread", "water", "flower", "garden", "hill",
            "river", "lake", "sea", "shell", "sand", "rock", "stone", "leaf", "bug", "bee", "frog", "duck", "bear",
            "lion", "mouse", "horse", "cow", "pig", "sheep", "hat", "shoe", "coat", "bed", "chair", "table", "cup",
            "plate", "spoon", "pot", "pan", "lamp", "clock", "kite", "drum", "bell", "song", "game", "race", "jump",
            "run", "walk", "play", "sing", "dance", "look", "see", "find", "make", "help", "give", "take", "eat",
            "drink", "sleep", "wake", "smile", "laugh", "cry", "hug", "share", "say", "ask", "tell", "love", "like",
            "want", "need", "go", "come", "went", "came", "saw", "said", "had", "did", "got", "made", "found", "took",
            "gave", "felt", "knew", "thought", "very", "so", "too", "not", "all", "one", "two", "three", "many",
            "some", "every", "other", "same", "best", "first", "last", "then", "now", "soon", "again", "after",
            "before", "up", "down", "out", "over", "under", "near", "far", "here", "there", "home", "school", "shop",
            "town", "farm", "forest", "road", "path", "bridge", "hole", "nest", "wall", "window", "key", "lock",
            "gift", "note", "letter", "map", "picture", "color", "paint", "brush", "paper", "pen", "stick", "string",
            "rope", "wheel", "train", "plane", "bus", "truck", "bike", "ship", "king", "queen", "prince", "dragon",
            "magic", "secret", "story", "dream", "wish", "idea", "plan", "way", "place", "thing", "name", "face",
            "hand", "foot", "head", "eye", "ear", "nose", "mouth", "heart", "warm", "cold", "hot", "soft", "hard",
            "fast", "slow", "loud", "quiet", "bright", "dark", "kind", "brave", "shy", "funny", "silly", "clever",
            "pretty", "tall", "short", "long", "round", "full", "empty", "clean", "dirty", "wet", "dry", "sweet");

    private Words() {
    }

    /** {@code count} words separated by single spaces, a pure function of {@code (seed, stream)}. */
    public static String text(long seed, long stream, int count) {
        SplittableRandom random = new SplittableRandom(TokenSpace.mix(seed, stream));
        StringBuilder sb = new StringBuilder(count * 6);
        for (int i = 0; i < count; i++) {
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(LIST.get(random.nextInt(LIST.size())));
        }
        return sb.toString();
    }
}
