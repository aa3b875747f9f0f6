package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code trace}: a Mooncake-format trace replayed as independent single requests, each arriving
 * at its timestamp (divided by the speed-up) unless another arrival mode is chosen.
 *
 * <p>Prompt {@code i} is the concatenation of the blocks named by its hash ids (see
 * {@link TokenSpace}): equal ids give equal blocks. The file's blocks are {@code fileBlockTokens}
 * long (512); with {@code blockTokens} smaller, every block is scaled down by the same factor
 * (a trace of 15,000-token prompts becomes one a small-context model can serve, with the same
 * reuse structure), the last, partial block proportionally. {@code maxInputTokens} then cuts
 * prompts to a prefix, which keeps every shared prefix shared.
 *
 * @param records         the trace rows (all of them are sent)
 * @param fileBlockTokens tokens per hash id in the file, &gt;= 1
 * @param blockTokens     tokens per hash id in the prompts sent, &gt;= 1
 * @param form            token ids or word text
 * @param firstTokenId    smallest token id used (tokens form)
 * @param endTokenId      one past the largest token id used (tokens form)
 * @param maxTokensCap    caps each row's output_length; 0 = no cap
 * @param maxInputTokens  cuts prompts to at most this many tokens; 0 = no cut
 * @param seed            varies block contents
 */
public record TraceWorkload(List<TraceRecord> records, int fileBlockTokens, int blockTokens, PromptForm form,
                            int firstTokenId, int endTokenId, int maxTokensCap, int maxInputTokens, long seed)
        implements Workload {
    public TraceWorkload {
        records = List.copyOf(records);
        if (records.isEmpty()) {
            throw new ConfigException("the trace has no rows");
        }
        if (fileBlockTokens < 1 || blockTokens < 1) {
            throw new ConfigException("trace block sizes must be >= 1, got " + fileBlockTokens + " and " + blockTokens);
        }
        if (maxTokensCap < 0 || maxInputTokens < 0) {
            throw new ConfigException("--max-tokens and --max-input-tokens must be >= 0, got " + maxTokensCap + " and "
                    + maxInputTokens);
        }
        new TokenSpace(firstTokenId, endTokenId, blockTokens, seed); // validates the range
    }

    @Override
    public String name() {
        return "trace";
    }

    @Override
    public boolean timed() {
        return true;
    }

    @Override
    public String describe() {
        return "trace: " + records.size() + " rows, " + fileBlockTokens + "-token blocks sent as " + blockTokens
                + "-token blocks of " + (form == PromptForm.TOKENS ? "token ids [" + firstTokenId + ", " + endTokenId + ")"
                : "words") + (maxInputTokens > 0 ? ", prompts cut to " + maxInputTokens + " tokens" : "")
                + (maxTokensCap > 0 ? ", max_tokens <= " + maxTokensCap : "") + ", seed " + seed;
    }

    /** The token space the prompts are made from. */
    public TokenSpace space() {
        return new TokenSpace(firstTokenId, endTokenId, blockTokens, seed);
    }

    @Override
    public List<Session> sessions() {
        TokenSpace space = space();
        List<Session> out = new ArrayList<>(records.size());
        for (TraceRecord r : records) {
            int length = scaledLength(r);
            List<Long> ids = r.hashIds();
            if (maxInputTokens > 0 && length > maxInputTokens) {
                length = maxInputTokens;
                ids = ids.subList(0, (length + blockTokens - 1) / blockTokens);
            }
            int maxTokens = maxTokensCap > 0 ? Math.min(r.outputLength(), maxTokensCap) : r.outputLength();
            Step step = form == PromptForm.TOKENS
                    ? new Step.TokenCompletion(new TokenRecipe.Blocks(space, ids, length), maxTokens)
                    : new Step.TextCompletion(blockText(ids, length), maxTokens);
            out.add(new Session(out.size(), null, List.of(step), r.timestampMs() * 1_000_000L));
        }
        return out;
    }

    /** The row's prompt length once each block is scaled from fileBlockTokens to blockTokens. */
    int scaledLength(TraceRecord r) {
        int full = r.hashIds().size() - 1;
        int last = r.inputLength() - full * fileBlockTokens;
        int lastScaled = (int) Math.max(1, Math.ceilDiv((long) last * blockTokens, fileBlockTokens));
        return full * blockTokens + lastScaled;
    }

    private String blockText(List<Long> ids, int words) {
        StringBuilder sb = new StringBuilder(words * 6);
        for (int i = 0; i < ids.size(); i++) {
            int count = Math.min(blockTokens, words - i * blockTokens);
            if (i > 0) {
                sb.append(' ');
            }
            sb.append(Words.text(seed, ids.get(i), count));
        }
        return sb.toString();
    }

    @Override
    public TraceWorkload withSeed(long s) {
        return new TraceWorkload(records, fileBlockTokens, blockTokens, form, firstTokenId, endTokenId, maxTokensCap,
                maxInputTokens, s);
    }

    @Override
    public String toString() {
        return describe();
    }
}
