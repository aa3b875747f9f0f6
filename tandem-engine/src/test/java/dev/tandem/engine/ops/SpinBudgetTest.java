package dev.tandem.engine.ops;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class SpinBudgetTest {
    @Test
    void budget_halvesWhenSpinningWasWasted_andDoublesWhenItPaidOff() {
        SpinBudget b = new SpinBudget();
        assertThat(b.nanos()).isEqualTo(SpinBudget.MAX_NS);
        b.parked();
        assertThat(b.nanos()).isEqualTo(SpinBudget.MAX_NS / 2);
        for (int i = 0; i < 20; i++) {
            b.parked();
        }
        assertThat(b.nanos()).isEqualTo(SpinBudget.MIN_NS);
        b.woke();
        assertThat(b.nanos()).isEqualTo(2 * SpinBudget.MIN_NS);
        for (int i = 0; i < 20; i++) {
            b.woke();
        }
        assertThat(b.nanos()).isEqualTo(SpinBudget.MAX_NS);
    }

    @Test
    void contended_dropsToTheShortestSpin() {
        SpinBudget b = new SpinBudget();
        b.contended();
        assertThat(b.nanos()).isEqualTo(SpinBudget.MIN_NS);
    }

    @Test
    void isContended_whenTheThreadGotLessThanThreeQuartersOfTheCore() {
        long wall = 2 * SpinBudget.PROBE_NS;
        assertThat(SpinBudget.isContended(wall, wall)).isFalse();
        assertThat(SpinBudget.isContended(wall * 3 / 4, wall)).isFalse();
        assertThat(SpinBudget.isContended(wall * 3 / 4 - 1, wall)).isTrue();
        assertThat(SpinBudget.isContended(0, wall)).isTrue();
        assertThat(SpinBudget.isContended(0, SpinBudget.PROBE_NS - 1)).as("too short a window to tell").isFalse();
    }
}
