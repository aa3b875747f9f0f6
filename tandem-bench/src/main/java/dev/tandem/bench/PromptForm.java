package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.Locale;

/**
 * How the trace and random workloads write prompts.
 *
 * <ul>
 *   <li>{@code TOKENS} (default): {@code /v1/completions} with {@code "prompt": [token ids]}. Exact:
 *       equal hash ids give equal token blocks whatever the server's tokenizer, and prompt lengths
 *       are exact. Needs a server that accepts token-id prompts (Tandem, vLLM, SGLang do) and ids
 *       inside its vocabulary ({@code --token-ids}).</li>
 *   <li>{@code TEXT}: {@code /v1/completions} with text made of words from a fixed list (one word
 *       per token of the block), so equal ids still give equal text; works with any server, but a
 *       tokenizer may merge or split across block boundaries, so block alignment and lengths are
 *       approximate.</li>
 * </ul>
 */
public enum PromptForm {
    TOKENS, TEXT;

    public static PromptForm parse(String text) {
        return switch (text.trim().toLowerCase(Locale.ROOT)) {
            case "tokens" -> TOKENS;
            case "text" -> TEXT;
            default -> throw new ConfigException("--prompt-form must be tokens or text, got '" + text + "'");
        };
    }
}
