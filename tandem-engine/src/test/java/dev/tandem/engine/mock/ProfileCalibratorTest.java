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
    void fitNonNegative_noisyPointsBendTheQuadraticBelowZero_fallsBackToTheLine() {
        // decode step times measured on a loaded machine: the quadratic fit is negative at u = 0
        double[] u = {0.0625, 0.125, 0.25, 0.5, 1.0};
        double[] ms = {530.5, 656.4, 1976.0, 2820.6, 1919.2};
        assertThat(ProfileCalibrator.minimum(ProfileCalibrator.fitQuadratic(u, ms), 0, 1)).isNegative();

        double[] c = ProfileCalibrator.fitNonNegative(u, ms, 0, 1);

        assertThat(c[2]).isZero();
        assertThat(c).containsExactly(ProfileCalibrator.fitLine(u, ms), within(1e-9));
        assertThat(c[0]).isCloseTo(996.27, within(0.01));
        assertThat(c[1]).isCloseTo(1507.81, within(0.01));
    }

    @Test
    void fitNonNegative_wellBehavedPoints_keepsTheQuadratic() {
        double[] x = {16, 64, 128, 256};
        double[] y = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            y[i] = 2e-3 * x[i] * x[i] + 0.5 * x[i] + 20;
        }
        assertThat(ProfileCalibrator.fitNonNegative(x, y, 1, 256))
                .containsExactly(ProfileCalibrator.fitQuadratic(x, y), within(1e-12));
    }

    @Test
    void fitNonNegative_fallingLine_usesTheMean() {
        double[] c = ProfileCalibrator.fitNonNegative(new double[] {0, 1}, new double[] {1, -3}, 0, 1);
        assertThat(c).containsExactly(new double[] {0, 0, 0}, within(1e-12));
        c = ProfileCalibrator.fitNonNegative(new double[] {0, 0.5, 1}, new double[] {10, 1, 0.5}, 0, 1);
        assertThat(c[0]).isGreaterThanOrEqualTo(0);
        assertThat(ProfileCalibrator.minimum(c, 0, 1)).isGreaterThanOrEqualTo(0);
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
