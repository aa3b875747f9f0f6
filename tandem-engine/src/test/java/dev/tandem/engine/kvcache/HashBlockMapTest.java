package dev.tandem.engine.kvcache;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class HashBlockMapTest {

    /** Random puts and removes with colliding small keys, checked against java.util.HashMap. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5})
    void randomPutRemove_seeded_matchesHashMap(long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int capacity = 50;
        HashBlockMap map = new HashBlockMap(capacity);
        Map<Long, Integer> ref = new HashMap<>();
        for (int op = 0; op < 20_000; op++) {
            long key = rnd.nextInt(120) - 10; // includes 0 and negatives
            if (ref.containsKey(key)) {
                if (rnd.nextBoolean()) {
                    assertThat(map.remove(key)).as("seed %d remove %d", seed, key).isEqualTo(ref.remove(key));
                }
            } else if (ref.size() < capacity && rnd.nextBoolean()) {
                int value = rnd.nextInt(1_000_000);
                map.putNew(key, value);
                ref.put(key, value);
            } else {
                assertThat(map.remove(key)).isEqualTo(-1);
            }
            long probe = rnd.nextInt(120) - 10;
            assertThat(map.get(probe)).as("seed %d get %d", seed, probe).isEqualTo(ref.getOrDefault(probe, -1));
            assertThat(map.size()).isEqualTo(ref.size());
        }
    }
}
