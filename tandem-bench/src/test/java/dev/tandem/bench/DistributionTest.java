package dev.tandem.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import org.junit.jupiter.api.Test;

class DistributionTest {

    @Test
    void percentile_fourValues_interpolatesBetweenClosestRanks() {
        double[] sorted = {1, 2, 3, 4};
        // h = (n - 1) * p / 100 = 3p/100
        assertThat(Distribution.percentile(sorted, 0)).isEqualTo(1.0);
        assertThat(Distribution.percentile(sorted, 50)).isEqualTo(2.5);            // h = 1.5
        assertThat(Distribution.percentile(sorted, 90)).isCloseTo(3.7, within(1e-12));  // h = 2.7
        assertThat(Distribution.percentile(sorted, 95)).isCloseTo(3.85, within(1e-12)); // h = 2.85
        assertThat(Distribution.percentile(sorted, 99)).isCloseTo(3.97, within(1e-12)); // h = 2.97
        assertThat(Distribution.percentile(sorted, 100)).isEqualTo(4.0);
    }

    @Test
    void of_elevenValuesUnsorted_matchesHandComputedSummary() {
        // sorted: 0 10 20 30 40 50 60 70 80 90 1000; h = 10p/100
        double[] values = {90, 10, 1000, 30, 0, 50, 70, 20, 40, 60, 80};
        Distribution d = Distribution.of(values);
        assertThat(d.count()).isEqualTo(11);
        assertThat(d.mean()).isCloseTo(1450.0 / 11, within(1e-9));
        assertThat(d.min()).isEqualTo(0);
        assertThat(d.p50()).isEqualTo(50);                                  // h = 5
        assertThat(d.p90()).isCloseTo(90, within(1e-9));                    // h = 9
        assertThat(d.p95()).isCloseTo(90 + 0.5 * 910, within(1e-9));        // h = 9.5 -> 545
        assertThat(d.p99()).isCloseTo(90 + 0.9 * 910, within(1e-9));        // h = 9.9 -> 909
        assertThat(d.max()).isEqualTo(1000);
        assertThat(values[0]).as("input left unsorted").isEqualTo(90);
    }

    @Test
    void of_singleValue_everyPercentileIsThatValue() {
        Distribution d = Distribution.of(new double[] {7.5});
        assertThat(d).isEqualTo(new Distribution(1, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5, 7.5));
    }

    @Test
    void of_empty_countZeroAndNaN() {
        Distribution d = Distribution.of(new double[0]);
        assertThat(d.count()).isZero();
        assertThat(d.p50()).isNaN();
        assertThat(d.mean()).isNaN();
    }

    @Test
    void percentile_outOfRange_rejected() {
        assertThatThrownBy(() -> Distribution.percentile(new double[] {1}, 101))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("101");
        assertThatThrownBy(() -> Distribution.percentile(new double[0], 50))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
