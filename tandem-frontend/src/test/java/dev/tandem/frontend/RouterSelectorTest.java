package dev.tandem.frontend;

import dev.tandem.core.WorkerRole;
import dev.tandem.engine.EngineConfig;
import dev.tandem.engine.LlmEngine;
import dev.tandem.engine.mock.MockConfig;
import dev.tandem.engine.mock.MockEngine;
import dev.tandem.engine.mock.VirtualClock;
import dev.tandem.router.RouterConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

class RouterSelectorTest {
    private final List<LlmEngine> engines = new ArrayList<>();
    private final WorkerSet workers = new WorkerSet();
    private final RouterSelector router = new RouterSelector(RouterConfig.defaults().withBlockSizeTokens(16)
            .withPolicy(RouterConfig.PolicyKind.ROUND_ROBIN), new Random(1));

    @AfterEach
    void stop() {
        router.close();
        engines.forEach(LlmEngine::close);
    }

    private Worker worker(String id) {
        LlmEngine e = MockEngine.driven(MockConfig.DEFAULT.withModelName("m").withVocabSize(300)
                .withContextLength(4096).withEngine(EngineConfig.DEFAULT.withKvBlocks(64)), new VirtualClock());
        engines.add(e);
        Worker w = new Worker(id, WorkerRole.AGGREGATED, e);
        workers.add(w);
        return w;
    }

    @Test
    void select_routerPicksAWorkerTheCallerExcluded_goesToACandidateInstead() {
        workers.addListener(router);
        Worker lost = worker("w-0");
        Worker other = worker("w-1");

        // a migration away from w-0 while the router still lists it: round-robin would pick it every other time
        for (int i = 0; i < 4; i++) {
            try (RoutedRequest r = router.select(new RoutingRequest("r" + i, new long[0], 5, null), List.of(other))) {
                assertThat(r.worker()).as("request %d", i).isEqualTo(other).isNotEqualTo(lost);
            }
        }
    }
}
