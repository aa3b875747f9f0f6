package dev.tandem.core;

import java.util.Arrays;
import java.util.Objects;

/**
 * One generation request as an engine sees it: prompt token ids (already templated and
 * tokenised, BOS included if the model wants one) and how to continue them.
 *
 * <p>Immutable; the arrays are copied in and never exposed for writing.
 */
public final class GenerateRequest {
    private final String requestId;
    private final int[] promptTokens;
    private final SamplingParams sampling;
    private final int maxTokens;
    private final int[] stopTokenIds;
    private final boolean ignoreEos;
    private final int topLogprobs;
    private final RemotePrefill remotePrefill;
    private final OutputConstraint constraint;

    /**
     * @param requestId    caller's id, used in logs and events
     * @param promptTokens prompt ids; must not be empty
     * @param sampling     sampling parameters
     * @param maxTokens    most tokens to generate, >= 1
     * @param stopTokenIds extra ids that end generation (the model's end-of-generation ids always
     *                     do unless {@code ignoreEos})
     * @param ignoreEos    keep generating past end-of-generation tokens
     * @param topLogprobs  -1: no logprobs; 0: the chosen token's logprob; n > 0: also the n most
     *                     likely alternatives (at most 20)
     */
    public GenerateRequest(String requestId, int[] promptTokens, SamplingParams sampling, int maxTokens,
                           int[] stopTokenIds, boolean ignoreEos, int topLogprobs) {
        this(requestId, promptTokens, sampling, maxTokens, stopTokenIds, ignoreEos, topLogprobs, null, null);
    }

    private GenerateRequest(String requestId, int[] promptTokens, SamplingParams sampling, int maxTokens,
                            int[] stopTokenIds, boolean ignoreEos, int topLogprobs, RemotePrefill remotePrefill,
                            OutputConstraint constraint) {
        this.remotePrefill = remotePrefill;
        this.constraint = constraint;
        this.requestId = Objects.requireNonNull(requestId, "requestId");
        this.promptTokens = promptTokens.clone();
        this.sampling = Objects.requireNonNull(sampling, "sampling");
        this.maxTokens = maxTokens;
        this.stopTokenIds = stopTokenIds == null ? new int[0] : stopTokenIds.clone();
        this.ignoreEos = ignoreEos;
        this.topLogprobs = topLogprobs;
        if (this.promptTokens.length == 0) {
            throw new RequestException(RequestException.Kind.INVALID, "the prompt is empty", "prompt", null);
        }
        if (maxTokens < 1) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "max_tokens must be at least 1, got " + maxTokens, "max_tokens", null);
        }
        if (topLogprobs < -1 || topLogprobs > 20) {
            throw new RequestException(RequestException.Kind.INVALID,
                    "top_logprobs must be in [0, 20], got " + topLogprobs, "top_logprobs", null);
        }
        if (constraint != null && constraint.replayedTokens() >= this.promptTokens.length) {
            throw new RequestException(RequestException.Kind.INVALID, "the constraint replays "
                    + constraint.replayedTokens() + " tokens of a " + this.promptTokens.length + "-token prompt",
                    "response_format", null);
        }
        if (remotePrefill != null && remotePrefill.handle().promptTokens() != this.promptTokens.length) {
            throw new RequestException(RequestException.Kind.INVALID, "KV handle " + remotePrefill.handle().handleId()
                    + " covers " + remotePrefill.handle().promptTokens() + " prompt tokens, the prompt has "
                    + this.promptTokens.length, "prompt", null);
        }
    }

    /** A greedy request with no extra stop ids and no logprobs. */
    public static GenerateRequest greedy(String requestId, int[] promptTokens, int maxTokens) {
        return new GenerateRequest(requestId, promptTokens, SamplingParams.GREEDY, maxTokens, null, false, -1);
    }

    public String requestId() {
        return requestId;
    }

    /** A copy of the prompt ids. */
    public int[] promptTokens() {
        return promptTokens.clone();
    }

    public int promptLength() {
        return promptTokens.length;
    }

    /** Prompt id at {@code index}, without copying. */
    public int promptToken(int index) {
        return promptTokens[index];
    }

    public SamplingParams sampling() {
        return sampling;
    }

    public int maxTokens() {
        return maxTokens;
    }

    /** A copy of the extra stop ids. */
    public int[] stopTokenIds() {
        return stopTokenIds.clone();
    }

    public boolean isStopToken(int id) {
        for (int s : stopTokenIds) {
            if (s == id) {
                return true;
            }
        }
        return false;
    }

    public boolean ignoreEos() {
        return ignoreEos;
    }

    public int topLogprobs() {
        return topLogprobs;
    }

    /**
     * Same request under another id and token budget (used to re-issue after a lost worker); a
     * remote prefill does not carry over.
     */
    public GenerateRequest continueWith(String newId, int[] newPrompt, int newMaxTokens) {
        OutputConstraint c = constraint;
        if (c != null) {
            // the new prompt is this prompt plus tokens generated under the constraint
            c = c.withReplayedTokens(c.replayedTokens() + Math.max(0, newPrompt.length - promptTokens.length));
        }
        return new GenerateRequest(newId, newPrompt, sampling, newMaxTokens, stopTokenIds, ignoreEos, topLogprobs,
                null, c);
    }

    /** The same request with its output constrained (null: unconstrained). */
    public GenerateRequest withConstraint(OutputConstraint newConstraint) {
        return new GenerateRequest(requestId, promptTokens, sampling, maxTokens, stopTokenIds, ignoreEos, topLogprobs,
                remotePrefill, newConstraint);
    }

    /** The constraint on the output, or null. */
    public OutputConstraint constraint() {
        return constraint;
    }

    /**
     * The decode half of a disaggregated request: this request whose prompt another worker has
     * prefilled (see {@link RemotePrefill}). The handle must cover exactly this prompt.
     */
    public GenerateRequest withRemotePrefill(RemotePrefill prefill) {
        return new GenerateRequest(requestId, promptTokens, sampling, maxTokens, stopTokenIds, ignoreEos, topLogprobs,
                Objects.requireNonNull(prefill, "prefill"), constraint);
    }

    /** The same request without a remote prefill (the decode worker computes the prompt itself). */
    public GenerateRequest withoutRemotePrefill() {
        return remotePrefill == null ? this
                : new GenerateRequest(requestId, promptTokens, sampling, maxTokens, stopTokenIds, ignoreEos, topLogprobs,
                        null, constraint);
    }

    /** The same request under another token budget (the prefill half asks for one token). */
    public GenerateRequest withMaxTokens(int newMaxTokens) {
        return new GenerateRequest(requestId, promptTokens, sampling, newMaxTokens, stopTokenIds, ignoreEos,
                topLogprobs, remotePrefill, constraint);
    }

    /** The prompt's KV computed elsewhere, or null when the serving worker computes it. */
    public RemotePrefill remotePrefill() {
        return remotePrefill;
    }

    @Override
    public String toString() {
        return "GenerateRequest[" + requestId + ", prompt=" + promptTokens.length + " tokens, maxTokens="
                + maxTokens + ", " + sampling + (remotePrefill != null ? ", prefilled by " + remotePrefill.handle().workerId() : "")
                + (constraint != null ? ", constrained" : "")
                + "]";
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerateRequest r && requestId.equals(r.requestId)
                && Arrays.equals(promptTokens, r.promptTokens) && sampling.equals(r.sampling)
                && maxTokens == r.maxTokens && Arrays.equals(stopTokenIds, r.stopTokenIds)
                && ignoreEos == r.ignoreEos && topLogprobs == r.topLogprobs
                && Objects.equals(remotePrefill, r.remotePrefill) && Objects.equals(constraint, r.constraint);
    }

    @Override
    public int hashCode() {
        return Objects.hash(requestId, Arrays.hashCode(promptTokens), sampling, maxTokens);
    }
}
