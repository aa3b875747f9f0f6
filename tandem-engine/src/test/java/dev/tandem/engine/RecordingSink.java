package dev.tandem.engine;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/** Test sink: records tokens (with the clock at each), the finish, and protocol violations. */
public class RecordingSink implements TokenSink {
    public final List<GeneratedToken> tokens = new ArrayList<>();
    public final List<Long> tokenTimes = new ArrayList<>();
    public final CompletableFuture<FinishReason> finished = new CompletableFuture<>();
    public volatile FinishReason reason;
    public volatile Usage usage;
    public volatile TandemException error;
    public volatile String violation;
    private final LongSupplier clock;

    public RecordingSink() {
        this(System::nanoTime);
    }

    public RecordingSink(LongSupplier clock) {
        this.clock = clock;
    }

    @Override
    public synchronized void onToken(GeneratedToken token) {
        if (finished.isDone()) {
            violation = "token after finish";
        }
        tokens.add(token);
        tokenTimes.add(clock.getAsLong());
    }

    @Override
    public synchronized void onFinish(FinishReason r, Usage u) {
        if (finished.isDone()) {
            violation = "second terminal call";
        }
        reason = r;
        usage = u;
        finished.complete(r);
    }

    @Override
    public synchronized void onError(TandemException e) {
        if (finished.isDone()) {
            violation = "second terminal call";
        }
        error = e;
        finished.completeExceptionally(e);
    }

    public synchronized int[] ids() {
        return tokens.stream().mapToInt(GeneratedToken::tokenId).toArray();
    }

    public boolean done() {
        return finished.isDone();
    }
}
