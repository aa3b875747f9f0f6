package dev.tandem.frontend.text;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ReplyMemoryTest {
    private final AtomicLong now = new AtomicLong();

    @Test
    void lookup_rememberedText_itsIdsUnknownTextNull() {
        ReplyMemory m = new ReplyMemory(1000, 1_000, now::get);
        m.remember(" park", new int[] {7, 8, 9});
        assertThat(m.lookup(" park")).containsExactly(7, 8, 9);
        assertThat(m.lookup(" park ")).isNull();
        assertThat(m.hits()).isEqualTo(1);
        assertThat(m.misses()).isEqualTo(1);
    }

    @Test
    void lookup_afterTheTimeToLive_null() {
        ReplyMemory m = new ReplyMemory(1000, 1_000, now::get);
        m.remember("a", new int[] {1});
        now.set(1_001);
        assertThat(m.lookup("a")).isNull();
    }

    @Test
    void remember_overTheTokenBound_leastRecentlyUsedGoFirst() {
        ReplyMemory m = new ReplyMemory(80, 1_000, now::get); // replies of at most 10 ids
        for (int i = 0; i < 8; i++) {
            m.remember("reply " + i, new int[10]);
        }
        assertThat(m.lookup("reply 0")).isNotNull(); // used: now the most recent
        m.remember("reply 8", new int[10]);
        assertThat(m.heldTokens()).isLessThanOrEqualTo(80);
        assertThat(m.lookup("reply 1")).isNull();
        assertThat(m.lookup("reply 0")).isNotNull();
        assertThat(m.lookup("reply 8")).isNotNull();
    }

    @Test
    void remember_replyLongerThanAnEighthOfTheBound_notKept() {
        ReplyMemory m = new ReplyMemory(80, 1_000, now::get);
        m.remember("long", new int[11]);
        assertThat(m.size()).isZero();
    }
}
