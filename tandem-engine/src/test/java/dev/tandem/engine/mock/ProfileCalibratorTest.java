package dev.tandem.engine.mock;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.tandem.engine.HistoryModelRunner;
import org.junit.jupiter.api.Test;

class ProfileCalibratorTest {

    @Test
    void fitQuadratic_exactQuadratic_recoversCoefficients() {
        double[] x = {16, 64, 128, 256, 512};
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = 4.2e-7 * x[i] * x[i] + 1.52e-2 * x[i] + 16.5;
        }
        double[] c = ProfileCalibrator.fitQuadratic(x, y);
        assertThat(c[0]).isCloseTo(16.5, within(1e-6));
        assertThat(c[1]).isCloseTo(1.52e-2, within(1e-9));
        assertThat(c[2]).isCloseTo(4.2e-7, within(1e-12));
    }

    @Test
    void fitQuadratic_twoPoints_fitsALine() {
        double[] c = ProfileCalibrator.fitQuadratic(new double[] {0, 1, 1}, new double[] {2, 5, 5});
        assertThat(c).containsExactly(new double[] {2, 3, 0}, within(1e-9));
    }

    @Test
    void calibrate_testModel_measuresEveryPointAndFitsAProfile() {
        HistoryModelRunner runner = new HistoryModelRunner(64, 1024);
        ProfileCalibrator.Result r = new ProfileCalibrator(runner, HistoryModelRunner.layout(16), 3)
                .calibrate("test", new int[] {16, 64, 128}, new int[] {1, 2, 4}, 100, 64);
        assertThat(r.prefillMs()).hasSize(3);
        assertThat(java.util.Arrays.stream(r.prefillMs()).min().orElseThrow()).isGreaterThanOrEqualTo(0);
        assertThat(r.decodeUtilisation()).containsExactly(new double[] {0.25, 0.5, 1.0}, within(1e-9));
        assertThat(r.profile().name()).isEqualTo("test");
        assertThat(Double.isFinite(r.profile().prefillLinearMs())).isTrue();
        // the runner checks every position it reads: the filled contexts were all present
        assertThat(runner.stepSequenceCounts).contains(4);
    }
}
