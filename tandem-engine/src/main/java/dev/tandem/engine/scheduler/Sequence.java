package dev.tandem.engine.scheduler;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.RequestHandle;
import dev.tandem.core.TokenSink;
import dev.tandem.core.Usage;
import dev.tandem.engine.PromptPin;
import dev.tandem.engine.kvcache.BlockTable;
import dev.tandem.engine.grammar.GrammarState;
import dev.tandem.engine.sampling.SequenceSampling;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * One request inside the engine: its tokens so far, how many of them are in the KV cache, its
 * blocks and its sampling state.
 *
 * <pre>
 * tokens:  | prompt (promptLength) | generated (generated) |        tokenCount = promptLength + generated
 *          |&lt;--- computed: K/V in the cache ---&gt;| pending |        pending = tokenCount - computed &gt;= 1
 * </pre>
 * A decoding sequence has exactly one pending token (the last one sampled); a prefilling one
 * (new, or recomputing after preemption) has more. A step processes a run of pending tokens and,
 * when the run reaches {@code tokenCount}, samples the next token from the last one's logits.
 *
 * <p>Created by the submitting thread (which also hashes the prompt's blocks), then confined to
 * the engine thread; only {@link #cancelRequested} is shared.
 */
final class Sequence implements RequestHandle {
    enum State { NEW, WAITING, RUNNING, RESERVED, FINISHED }

    final Scheduler owner;
    final long arrival;           // submit order: lower runs first and is preempted last
    final GenerateRequest request;
    TokenSink sink;               // null while an import reservation waits for its start
    final Consumer<PromptPin> onPinned; // null unless the prompt's blocks are to be pinned at finish
    final int[] tokens;           // [promptLength + maxTokens]
    final int promptLength;
    final BlockTable table;
    final SequenceSampling sampling;
    GrammarState grammar;         // the output constraint's state; null when unconstrained
    int tokenCount;
    int generated;
    int computed;
    State state = State.NEW;
    boolean admittedOnce;
    int cachedPromptTokens;       // from the local prefix cache at first admission
    int transferredPromptTokens;  // imported from a peer
    int preemptions;
    int stepTokens;               // tokens this sequence contributes to the step in flight
    long expiresAtNanos;          // import reservations only: released unused at this time
    /** Set once by whichever thread cancels first; the engine thread acts on it. */
    final AtomicBoolean cancelRequested = new AtomicBoolean();

    Sequence(Scheduler owner, long arrival, GenerateRequest request, TokenSink sink, Consumer<PromptPin> onPinned,
             int blockSize, SequenceSampling sampling) {
        this.owner = owner;
        this.arrival = arrival;
        this.request = request;
        this.sink = sink;
        this.onPinned = onPinned;
        this.promptLength = request.promptLength();
        this.tokens = new int[promptLength + request.maxTokens()];
        for (int i = 0; i < promptLength; i++) {
            tokens[i] = request.promptToken(i);
        }
        this.tokenCount = promptLength;
        this.table = new BlockTable(blockSize, tokens.length);
        this.table.hashFullBlocks(tokens, tokenCount);
        this.sampling = sampling;
    }

    int pending() {
        return tokenCount - computed;
    }

    void append(int token) {
        tokens[tokenCount++] = token;
        generated++;
        sampling.observe(token);
        table.hashFullBlocks(tokens, tokenCount);
    }

    Usage usage() {
        return new Usage(promptLength, cachedPromptTokens, transferredPromptTokens, generated);
    }

    @Override
    public String requestId() {
        return request.requestId();
    }

    @Override
    public void cancel() {
        owner.cancel(this);
    }

    @Override
    public String toString() {
        return "Sequence[" + request.requestId() + ", " + state + ", tokens=" + tokenCount + ", computed=" + computed
                + ", generated=" + generated + "]";
    }
}
