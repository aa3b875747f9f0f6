package dev.tandem.worker;

import dev.tandem.core.FinishReason;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/** Records a request's output: tokens, then exactly one terminal call. */
class RecordingSink implements TokenSink {
    final List<GeneratedToken> tokens = new ArrayList<>();
    FinishReason reason;
    TandemException error;
    private final CountDownLatch done = new CountDownLatch(1);
    private final CountDownLatch firstToken = new CountDownLatch(1);

    @Override
    public synchronized void onToken(GeneratedToken token) {
        tokens.add(token);
        firstToken.countDown();
    }

    @Override
    public synchronized void onFinish(FinishReason reason, Usage usage) {
        this.reason = reason;
        done.countDown();
    }

    @Override
    public synchronized void onError(TandemException error) {
        this.error = error;
        done.countDown();
    }

    boolean awaitDone(long ms) throws InterruptedException {
        return done.await(ms, TimeUnit.MILLISECONDS);
    }

    boolean awaitTokens(long ms) throws InterruptedException {
        return firstToken.await(ms, TimeUnit.MILLISECONDS);
    }

    synchronized int tokenCount() {
        return tokens.size();
    }
}
