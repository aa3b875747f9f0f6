package dev.tandem.core;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Test sink shared by the modules' tests (the {@code tandem-core} test jar): records a request's
 * tokens (with the clock at each), its terminal call, and any break of the sink contract (a token
 * after the terminal call, a second terminal call) in {@link #violation}.
 */
public class RecordingSink implements TokenSink {
    public final List<GeneratedToken> tokens = new ArrayList<>();
    public final List<Long> tokenTimes = new ArrayList<>();
    public final CompletableFuture<FinishReason> finished = new CompletableFuture<>();
    public volatile FinishReason reason;
    public volatile Usage usage;
    public volatile TandemException error;
    public volatile String violation;
    public volatile int terminalCalls;
    private final LongSupplier clock;
    private final CountDownLatch firstTokens;

    public RecordingSink() {
        this(System::nanoTime);
    }

    /** @param clock read at each token, for {@link #tokenTimes} */
    public RecordingSink(LongSupplier clock) {
        this(clock, 1);
    }

    /** @param waitForTokens tokens {@link #awaitTokens} waits for */
    public RecordingSink(int waitForTokens) {
        this(System::nanoTime, waitForTokens);
    }

    private RecordingSink(LongSupplier clock, int waitForTokens) {
        this.clock = clock;
        this.firstTokens = new CountDownLatch(waitForTokens);
    }

    @Override
    public synchronized void onToken(GeneratedToken token) {
        if (finished.isDone()) {
            violation = "token after finish";
            throw new AssertionError("token after the terminal call");
        }
        tokens.add(token);
        tokenTimes.add(clock.getAsLong());
        firstTokens.countDown();
    }

    @Override
    public synchronized void onFinish(FinishReason r, Usage u) {
        terminal();
        reason = r;
        usage = u;
        finished.complete(r);
    }

    @Override
    public synchronized void onError(TandemException e) {
        terminal();
        error = e;
        finished.completeExceptionally(e);
    }

    private void terminal() {
        if (finished.isDone()) {
            violation = "second terminal call";
        }
        terminalCalls++;
    }

    public synchronized int[] ids() {
        return tokens.stream().mapToInt(GeneratedToken::tokenId).toArray();
    }

    public synchronized int tokenCount() {
        return tokens.size();
    }

    public boolean done() {
        return finished.isDone();
    }

    /** Waits for the terminal call; false if {@code ms} pass first. */
    public boolean awaitDone(long ms) throws InterruptedException {
        try {
            finished.get(ms, TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.ExecutionException e) {
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    /** Waits for the tokens given at construction (1 by default); false if {@code ms} pass first. */
    public boolean awaitTokens(long ms) throws InterruptedException {
        return firstTokens.await(ms, TimeUnit.MILLISECONDS);
    }
}
