package dev.tandem.engine.scheduler;

import dev.tandem.engine.kvcache.BlockManager;
import dev.tandem.engine.model.ForwardBatch;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.PriorityQueue;

/**
 * Decides what one forward step computes: the waiting and running queues, the token budget, the
 * blocks each scheduled run needs, and preemption when blocks run out.
 *
 * <h2>Design</h2>
 * {@link #plan} fills the {@link ForwardBatch} in three passes:
 * <ol>
 *   <li><b>decode</b>: every running sequence with one pending token contributes it. If its next
 *       block cannot be allocated, the latest-arrived running sequence is preempted (its blocks
 *       freed, full ones staying in the prefix cache; requeued to recompute) until it can, vLLM's
 *       recompute preemption;</li>
 *   <li><b>chunked prefill</b>: running sequences with more pending tokens (a long prompt, or a
 *       recompute) take chunks, oldest first, up to the token budget and the free blocks;</li>
 *   <li><b>admission</b>: waiting sequences, oldest first, take their longest cached prefix
 *       (whole blocks, never the last prompt token, whose logits are needed) and a first chunk,
 *       while the budget ({@code maxBatchTokens}), the sequence limit ({@code maxSequences}) and
 *       the blocks allow; the first that does not fit stops admission (no overtaking).</li>
 * </ol>
 * Decodes go first so that a long prompt never stalls the sequences already generating. Every
 * allocation is checked against {@link BlockManager#allocatableBlocks()} before it is made, so
 * a planned step never fails for want of blocks.
 *
 * <h2>Invariants</h2> (checked by {@link #checkInvariants})
 * <ul>
 *   <li>running is ordered by arrival; every running sequence has 1 &lt;= pending and blocks
 *       for all computed positions;</li>
 *   <li>waiting sequences hold no blocks; {@code waitingTokens} is the sum of their tokens.</li>
 * </ul>
 *
 * <h2>Concurrency</h2>
 * Engine thread only (owned by {@link Scheduler}).
 *
 * <h2>References</h2>
 * vLLM v1 scheduler (token budget across running then waiting, chunked prefill, recompute
 * preemption of the lowest-priority running request); Sarathi-Serve (decode-first batches with
 * prefill chunks).
 */
final class StepPlanner {
    private static final System.Logger LOG = System.getLogger(StepPlanner.class.getName());

    private final String name;
    private final BlockManager blocks;
    private final int blockSize;
    private final int maxBatchTokens;
    private final int maxSequences;
    private final ForwardBatch batch;
    private final Sequence[] scheduled; // [maxSequences] the step's sequences, in batch order

    private final PriorityQueue<Sequence> waiting = new PriorityQueue<>(Comparator.comparingLong(s -> s.arrival));
    private final ArrayList<Sequence> running = new ArrayList<>();
    private long waitingTokens;
    private int scheduledCount;
    private int stepPrefillTokens;
    private int stepDecodeSequences;
    private long promptTokensTotal;
    private long cachedPromptTokensTotal;
    private long preemptionsTotal;

    StepPlanner(String name, BlockManager blocks, int blockSize, int maxBatchTokens, int maxSequences) {
        this.name = name;
        this.blocks = blocks;
        this.blockSize = blockSize;
        this.maxBatchTokens = maxBatchTokens;
        this.maxSequences = maxSequences;
        this.batch = new ForwardBatch(maxSequences, maxBatchTokens);
        this.scheduled = new Sequence[maxSequences];
    }

    // ------------------------------------------------------------------ queues

    /** Queues a new (or preempted) sequence; it holds no blocks. */
    void enqueue(Sequence s) {
        s.state = Sequence.State.WAITING;
        waiting.add(s);
        waitingTokens += s.tokenCount;
    }

    /** Inserts a sequence into running in arrival order. */
    void insertRunning(Sequence s) {
        int lo = 0;
        int hi = running.size();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (running.get(mid).arrival < s.arrival) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        s.state = Sequence.State.RUNNING;
        running.add(lo, s);
    }

    /** Takes a waiting or running sequence out of its queue (its blocks are the caller's). */
    void remove(Sequence s) {
        switch (s.state) {
            case WAITING -> {
                waiting.remove(s);
                waitingTokens -= s.tokenCount;
            }
            case RUNNING -> running.remove(s);
            case NEW, RESERVED, FINISHED -> { }
        }
    }

    /** Counts a started sequence's prompt in the prefix-hit statistics (once per sequence). */
    void countPrompt(Sequence s) {
        promptTokensTotal += s.promptLength;
        cachedPromptTokensTotal += s.cachedPromptTokens;
    }

    List<Sequence> running() {
        return running;
    }

    /** A copy of the waiting sequences, in no particular order. */
    List<Sequence> waitingSnapshot() {
        return new ArrayList<>(waiting);
    }

    int runningCount() {
        return running.size();
    }

    int waitingCount() {
        return waiting.size();
    }

    boolean hasWork() {
        return !running.isEmpty() || !waiting.isEmpty();
    }

    /** Prompt tokens not yet computed: waiting sequences' tokens plus running prefills' pending ones. */
    long queuedPrefillTokens() {
        long queued = waitingTokens;
        for (Sequence s : running) {
            int p = s.pending();
            if (p > 1) {
                queued += p;
            }
        }
        return queued;
    }

    long promptTokensTotal() {
        return promptTokensTotal;
    }

    long cachedPromptTokensTotal() {
        return cachedPromptTokensTotal;
    }

    long preemptionsTotal() {
        return preemptionsTotal;
    }

    // ------------------------------------------------------------------ the planned step

    ForwardBatch batch() {
        return batch;
    }

    int scheduledCount() {
        return scheduledCount;
    }

    /** The sequence at batch row {@code k}. */
    Sequence scheduled(int k) {
        return scheduled[k];
    }

    /** Forgets the planned step (after it completed or failed). */
    void clearScheduled() {
        for (int k = 0; k < scheduledCount; k++) {
            scheduled[k] = null;
        }
        scheduledCount = 0;
    }

    int stepPrefillTokens() {
        return stepPrefillTokens;
    }

    int stepDecodeSequences() {
        return stepDecodeSequences;
    }

    // ------------------------------------------------------------------ planning

    /**
     * Fills the batch for the next step (see the design notes).
     *
     * @param reservedSequences sequence slots held by import reservations
     * @return false if there is nothing to run
     */
    boolean plan(int reservedSequences) {
        batch.clear();
        clearScheduled();
        stepPrefillTokens = 0;
        stepDecodeSequences = 0;
        int budget = maxBatchTokens;
        budget = planDecodes(budget);
        budget = planRunningChunks(budget);
        planAdmissions(budget, reservedSequences);
        return scheduledCount > 0;
    }

    /** Pass 1: one token per decoding sequence, preempting the latest arrivals when blocks run out. */
    private int planDecodes(int budget) {
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            if (s.pending() != 1) {
                continue;
            }
            while (!blocks.allocate(s.table, s.computed + 1)) {
                Sequence victim = running.getLast();
                preempt(victim);
                if (victim == s) {
                    break;
                }
            }
            if (s.state != Sequence.State.RUNNING) {
                break; // s itself was preempted: it was the last running sequence
            }
            schedule(s, 1);
            budget--;
            stepDecodeSequences++;
        }
        return budget;
    }

    /** Pass 2: chunks of prompts (or recomputes) already running, oldest first. */
    private int planRunningChunks(int budget) {
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            if (s.pending() <= 1) {
                continue;
            }
            int coverable = (s.table.blockCount() + blocks.allocatableBlocks()) * blockSize - s.computed;
            int chunk = Math.min(Math.min(budget, s.pending()), coverable);
            if (chunk <= 0) {
                continue;
            }
            allocateOrThrow(s, s.computed + chunk);
            schedule(s, chunk);
            budget -= chunk;
            stepPrefillTokens += chunk;
        }
        return budget;
    }

    /** Pass 3: admissions, oldest first, no overtaking. */
    private void planAdmissions(int budget, int reservedSequences) {
        while (budget > 0 && running.size() + reservedSequences < maxSequences && !waiting.isEmpty()) {
            Sequence s = waiting.peek();
            int hit = blocks.matchPrefix(s.table, (s.tokenCount - 1) / blockSize);
            int cachedAmongHit = blocks.cachedAmongPrefix(s.table, hit);
            // the last token is always computed (its logits are needed)
            int tail = blocks.matchTail(s.table, hit, s.tokens, s.tokenCount - 1 - hit * blockSize);
            int start = hit * blockSize + tail;
            int chunk = Math.min(budget, s.tokenCount - start);
            int coverable = (hit + blocks.allocatableBlocks() - cachedAmongHit) * blockSize - start;
            chunk = Math.min(chunk, coverable);
            if (chunk <= 0) {
                break;
            }
            waiting.poll();
            waitingTokens -= s.tokenCount;
            blocks.acquirePrefix(s.table, hit);
            if (tail > 0) {
                blocks.acquireTail(s.table, hit);
            }
            s.computed = start;
            allocateOrThrow(s, start + chunk);
            if (!s.admittedOnce) {
                s.admittedOnce = true;
                s.cachedPromptTokens = Math.min(start, s.promptLength);
                countPrompt(s);
            }
            insertRunning(s);
            schedule(s, chunk);
            budget -= chunk;
            stepPrefillTokens += chunk;
        }
    }

    private void allocateOrThrow(Sequence s, int tokens) {
        if (!blocks.allocate(s.table, tokens)) {
            throw new IllegalStateException("allocation of " + tokens + " positions failed after the fit check: " + s);
        }
    }

    private void schedule(Sequence s, int tokens) {
        s.stepTokens = tokens;
        boolean wantsLogits = s.computed + tokens == s.tokenCount;
        batch.add(s.tokens, s.computed, tokens, s.computed, s.table.blocks(), wantsLogits);
        scheduled[scheduledCount++] = s;
    }

    private void preempt(Sequence s) {
        running.remove(s);
        blocks.release(s.table, s.tokens, s.computed); // readmitted, it may take its tail back
        s.computed = 0;
        s.preemptions++;
        preemptionsTotal++;
        enqueue(s);
        if (LOG.isLoggable(System.Logger.Level.DEBUG)) {
            LOG.log(System.Logger.Level.DEBUG, "[req={0}] preempted after {1} tokens (engine {2}, free blocks {3})",
                    s.requestId(), s.generated, name, blocks.allocatableBlocks());
        }
    }

    // ------------------------------------------------------------------ invariants

    /**
     * Checks the queue invariants in the class notes and adds the running sequences' block
     * references to {@code refs[block]}; throws IllegalStateException.
     */
    void checkInvariants(int[] refs) {
        long prevArrival = Long.MIN_VALUE;
        for (Sequence s : running) {
            Scheduler.check(s.state == Sequence.State.RUNNING, "running list holds %s", s);
            Scheduler.check(s.arrival > prevArrival, "running list out of arrival order at %s", s);
            prevArrival = s.arrival;
            Scheduler.check(s.pending() >= 1, "running sequence without a pending token: %s", s);
            Scheduler.check(s.table.capacityTokensAllocated() >= s.computed,
                    "blocks do not cover computed positions: %s", s);
            Scheduler.countRefs(s, refs);
        }
        long tokens = 0;
        for (Sequence s : waiting) {
            Scheduler.check(s.state == Sequence.State.WAITING && s.table.blockCount() == 0,
                    "waiting sequence holds blocks: %s", s);
            tokens += s.tokenCount;
        }
        Scheduler.check(tokens == waitingTokens, "waiting tokens %d but counter says %d", tokens, waitingTokens);
    }
}
