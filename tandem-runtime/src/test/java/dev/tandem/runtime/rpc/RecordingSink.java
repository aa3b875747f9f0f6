package dev.tandem.runtime.rpc;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Records a request's output and checks the sink contract (tokens, then exactly one terminal call). */
final class RecordingSink implements TokenSink {
    final List<GeneratedToken> tokens = new ArrayList<>();
    FinishReason reason;
    Usage usage;
    TandemException error;
    int terminalCalls;
    private final CountDownLatch done = new CountDownLatch(1);
    private final CountDownLatch firstTokens;
    final List<String> threads = new ArrayList<>();

    RecordingSink() {
        this(1);
    }

    RecordingSink(int waitForTokens) {
        this.firstTokens = new CountDownLatch(waitForTokens);
    }

    @Override
    public synchronized void onToken(GeneratedToken token) {
        if (terminalCalls > 0) {
            throw new AssertionError("token after the terminal call");
        }
        tokens.add(token);
        firstTokens.countDown();
    }

    @Override
    public synchronized void onFinish(FinishReason reason, Usage usage) {
        terminalCalls++;
        this.reason = reason;
        this.usage = usage;
        done.countDown();
    }

    @Override
    public synchronized void onError(TandemException error) {
        terminalCalls++;
        this.error = error;
        done.countDown();
    }

    boolean awaitDone(long ms) throws InterruptedException {
        return done.await(ms, TimeUnit.MILLISECONDS);
    }

    boolean awaitTokens(long ms) throws InterruptedException {
        return firstTokens.await(ms, TimeUnit.MILLISECONDS);
    }

    synchronized int tokenCount() {
        return tokens.size();
    }
}
