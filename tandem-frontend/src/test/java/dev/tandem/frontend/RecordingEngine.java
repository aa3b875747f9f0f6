package dev.tandem.frontend;

import dev.tandem.core.Engine;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvEventListener;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TandemException;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/** Passes everything to a real engine and records how each request ended (a test spy). */
final class RecordingEngine implements Engine {
    private final Engine delegate;
    /** How each request ended, in order. */
    final ConcurrentLinkedQueue<FinishReason> finishes = new ConcurrentLinkedQueue<>();
    /** The engine's completion-token count of each finished request, in order. */
    final ConcurrentLinkedQueue<Integer> generated = new ConcurrentLinkedQueue<>();
    final AtomicInteger submitted = new AtomicInteger();
    final AtomicInteger unfinished = new AtomicInteger();

    RecordingEngine(Engine delegate) {
        this.delegate = delegate;
    }

    @Override
    public EngineInfo info() {
        return delegate.info();
    }

    @Override
    public RequestHandle submit(GenerateRequest request, TokenSink sink) {
        RequestHandle h = delegate.submit(request, new TokenSink() {
            @Override
            public void onToken(GeneratedToken token) {
                sink.onToken(token);
            }

            @Override
            public void onFinish(FinishReason reason, Usage usage) {
                finishes.add(reason);
                generated.add(usage.completionTokens());
                unfinished.decrementAndGet();
                sink.onFinish(reason, usage);
            }

            @Override
            public void onError(TandemException error) {
                unfinished.decrementAndGet();
                sink.onError(error);
            }
        });
        submitted.incrementAndGet();
        unfinished.incrementAndGet();
        return h;
    }

    @Override
    public LoadReport load() {
        return delegate.load();
    }

    @Override
    public AutoCloseable subscribe(KvEventListener listener) {
        return delegate.subscribe(listener);
    }

    @Override
    public KvSnapshot kvSnapshot() {
        return delegate.kvSnapshot();
    }

    @Override
    public void close() {
        delegate.close();
    }
}
