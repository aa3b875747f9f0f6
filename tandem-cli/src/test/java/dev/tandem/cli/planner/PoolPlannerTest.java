package dev.tandem.cli.planner;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The planner's decisions on synthetic metric sequences, on a clock the test moves. */
class PoolPlannerTest {
    /** TTFT objective 1000 ms, ITL 100 ms; pools 1..3; cooldown 10 s; shrink after 20 s of headroom. */
    private static final PlannerConfig CONFIG = new PlannerConfig(1000, 100, 1, 3, 1, 3, 10_000, 20_000, 0.5, 4,
            10_000);
    private long nowMs = 1_000_000;
    private final PoolPlanner planner = new PoolPlanner(CONFIG, () -> nowMs);

    private static Observation load(double ttftMs, double itlMs) {
        return new Observation(50, ttftMs, itlMs, 0, 0, 0, 0.3);
    }

    private static final Observation IDLE = new Observation(0, Double.NaN, Double.NaN, 0, 0, 0, 0);

    @Test
    void missedTtft_addsOnePrefillWorker_thenWaitsOutTheCooldown() {
        Decision first = planner.decide(load(1500, 20), 1, 1);
        nowMs += 5_000;
        Decision during = planner.decide(load(1500, 20), 2, 1);
        nowMs += 5_000;
        Decision after = planner.decide(load(1500, 20), 2, 1);

        assertThat(first).extracting(Decision::prefill, Decision::decode).containsExactly(2, 1);
        assertThat(first.reason()).contains("p95 TTFT 1500 ms > 1000 ms").contains("prefill 1 -> 2");
        assertThat(during).extracting(Decision::prefill, Decision::decode).containsExactly(2, 1);
        assertThat(during.reason()).contains("cooling down");
        assertThat(after.prefill()).isEqualTo(3);
    }

    @Test
    void missedItl_addsADecodeWorker_only() {
        Decision d = planner.decide(load(300, 150), 1, 1);

        assertThat(d).extracting(Decision::prefill, Decision::decode).containsExactly(1, 2);
        assertThat(d.reason()).contains("p95 ITL 150.0 ms > 100.0 ms");
    }

    @Test
    void queuesAndKvUsage_growPoolsBeforeLatencyIsMissed() {
        Decision queued = planner.decide(new Observation(50, 400, 20, 6, 3, 0, 0.3), 2, 1);
        Decision kvFull = planner.decide(new Observation(50, 400, 20, 0, 0, 0, 0.95), 1, 1);
        nowMs += CONFIG.cooldownMs();
        Decision decodeWaiting = planner.decide(new Observation(50, 400, 20, 0, 0, 9, 0.5), 1, 2);

        assertThat(queued.prefill()).as(queued.reason()).isEqualTo(3);
        assertThat(kvFull.decode()).as(kvFull.reason()).isEqualTo(2);
        assertThat(decodeWaiting.decode()).as(decodeWaiting.reason()).isEqualTo(3);
    }

    @Test
    void latencyInsideTheHysteresisBand_changesNothing() {
        for (int i = 0; i < 30; i++) {
            Decision d = planner.decide(load(700, 70), 2, 2); // above half the objective, below it
            assertThat(d).extracting(Decision::prefill, Decision::decode).containsExactly(2, 2);
            assertThat(d.reason()).isEqualTo("steady");
            nowMs += 2_000;
        }
    }

    @Test
    void headroom_shrinksOnlyAfterTheHold_oneWorkerAtATime() {
        List<Integer> prefill = new ArrayList<>();
        int p = 3;
        int d = 3;
        for (int t = 0; t <= 60; t += 2) {
            Decision decision = planner.decide(IDLE, p, d);
            p = decision.prefill();
            d = decision.decode();
            prefill.add(p);
            nowMs += 2_000;
        }

        // idle from t=0: the first shrink at t=20 s, the next 20 s later, then the minimum holds
        assertThat(prefill.subList(0, 10)).containsOnly(3);
        assertThat(prefill.get(10)).isEqualTo(2);
        assertThat(prefill.subList(10, 20)).containsOnly(2);
        assertThat(prefill.get(20)).isEqualTo(1);
        assertThat(prefill.subList(20, prefill.size())).containsOnly(1);
        assertThat(d).isEqualTo(1);
    }

    @Test
    void aMostlyEmptyDecodePool_shrinksEvenInsideTheBand() {
        Observation trickle = new Observation(5, 300, 70, 0, 0, 0, 0.1); // ITL in the band, KV nearly empty
        Observation busy = new Observation(5, 300, 70, 0, 0, 0, 0.3);

        Decision first = planner.decide(trickle, 1, 3);
        nowMs += CONFIG.scaleDownHoldMs();
        Decision emptyEnough = planner.decide(trickle, 1, 3);
        nowMs += CONFIG.scaleDownHoldMs();
        Decision notEmpty = planner.decide(busy, 1, 2);

        assertThat(first.decode()).isEqualTo(3);
        assertThat(emptyEnough.decode()).as(emptyEnough.reason()).isEqualTo(2);
        assertThat(notEmpty.decode()).isEqualTo(2);
    }

    @Test
    void aBreakInTheHeadroom_restartsTheHold() {
        planner.decide(IDLE, 2, 2);
        nowMs += 15_000;
        planner.decide(load(700, 70), 2, 2); // inside the band: headroom broken
        nowMs += 15_000;
        Decision d = planner.decide(IDLE, 2, 2);
        nowMs += 15_000;
        Decision later = planner.decide(IDLE, 2, 2);
        nowMs += 5_000;
        Decision held = planner.decide(IDLE, 2, 2);

        assertThat(d).extracting(Decision::prefill, Decision::decode).containsExactly(2, 2);
        assertThat(later).extracting(Decision::prefill, Decision::decode).containsExactly(2, 2);
        assertThat(held).extracting(Decision::prefill, Decision::decode).containsExactly(1, 1);
    }

    @Test
    void boundsHold_underPressureAndBeyondThem() {
        Decision atMax = planner.decide(load(5000, 500), 3, 3);
        Decision belowMin = planner.decide(IDLE, 0, 0);
        Decision aboveMax = planner.decide(IDLE, 5, 4);

        assertThat(atMax).extracting(Decision::prefill, Decision::decode).containsExactly(3, 3);
        assertThat(atMax.reason()).contains("at its maximum");
        assertThat(belowMin).extracting(Decision::prefill, Decision::decode).containsExactly(1, 1);
        assertThat(aboveMax).extracting(Decision::prefill, Decision::decode).containsExactly(3, 3);
    }

    @Test
    void loadThatRisesAndFalls_growsThenShrinksBack() {
        // every 2 s: 20 s quiet, 40 s over both objectives, 80 s quiet
        List<String> sizes = new ArrayList<>();
        int p = 1;
        int d = 1;
        for (int t = 0; t < 140; t += 2) {
            Observation o = t >= 20 && t < 60 ? load(2000, 200) : IDLE;
            Decision decision = planner.decide(o, p, d);
            p = decision.prefill();
            d = decision.decode();
            sizes.add(p + "/" + d);
            nowMs += 2_000;
        }

        assertThat(sizes.get(9)).isEqualTo("1/1");
        assertThat(sizes.get(10)).isEqualTo("2/2");  // t=20: first miss
        assertThat(sizes.get(15)).isEqualTo("3/3");  // t=30: after the cooldown
        assertThat(sizes.get(29)).isEqualTo("3/3");  // t=58: at the maximum while the load lasts
        assertThat(sizes.get(39)).isEqualTo("3/3");  // t=78: still holding
        assertThat(sizes.get(40)).isEqualTo("2/2");  // t=80: 20 s of headroom
        assertThat(sizes.get(50)).isEqualTo("1/1");  // t=100: 20 s more
        assertThat(sizes.getLast()).isEqualTo("1/1");
    }

    @Test
    void badSettings_areRefusedWithTheirNames() {
        assertThatThrownBy(() -> new PlannerConfig(0, 100, 1, 3, 1, 3, 0, 0, 0.5, 4, 1000))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--ttft-slo-ms");
        assertThatThrownBy(() -> new PlannerConfig(1000, 100, 3, 2, 1, 3, 0, 0, 0.5, 4, 1000))
                .isInstanceOf(ConfigException.class).hasMessageContaining("--min-prefill and --max-prefill");
        assertThatThrownBy(() -> new PlannerConfig(1000, 100, 1, 3, 1, 3, 0, 0, 1.5, 4, 1000))
                .isInstanceOf(ConfigException.class).hasMessageContaining("headroom");
    }
}
