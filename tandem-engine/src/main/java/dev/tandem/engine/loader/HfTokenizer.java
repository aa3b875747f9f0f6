package dev.tandem.engine.loader;

import com.fasterxml.jackson.databind.JsonNode;
import dev.tandem.core.ModelFormatException;
import dev.tandem.engine.gguf.GgufValueType;
import dev.tandem.engine.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * A Hugging Face tokenizer ({@code tokenizer.json} + {@code tokenizer_config.json}) turned into
 * the GGUF {@code tokenizer.*} metadata llama.cpp's converter writes, so Tandem's tokenizers and
 * llama.cpp read converted models as they read published GGUFs.
 *
 * <h2>Design</h2>
 * Two families, told apart as llama.cpp does:
 * <ul>
 *   <li><b>SentencePiece-style BPE</b> (Llama 2, Mistral, TinyLlama: {@code model.type = BPE} with
 *       {@code byte_fallback = true}) becomes {@code tokenizer.ggml.model = "llama"}: tokens by id,
 *       {@code <0xXX>} tokens BYTE, special added tokens CONTROL (the unknown token UNKNOWN, as
 *       SentencePiece types it), other added tokens USER_DEFINED, and scores {@code -k} for the
 *       k-th normal token (SentencePiece's own scores for a vocabulary in merge order; llama.cpp's
 *       tokenizer.json path writes -1000 for all, which loses the merge priority).
 *   <li><b>Byte-level BPE</b> (Llama 3, Qwen2, GPT-2) becomes {@code "gpt2"} with
 *       {@code tokenizer.ggml.merges} and {@code tokenizer.ggml.pre} recognised from the Split
 *       regex of the pre-tokenizer ({@code llama-bpe}, {@code qwen2}, or {@code gpt-2} for a plain
 *       ByteLevel); ids missing from the vocabulary up to {@code vocab_size} become
 *       {@code [PAD<id>]} UNUSED; added tokens that are special or look like {@code <|...|>} are
 *       CONTROL, other added tokens USER_DEFINED.
 * </ul>
 * Special token ids come from {@code tokenizer_config.json}'s {@code bos_token}/{@code eos_token}/...
 * (looked up among the added tokens), then {@code config.json}'s {@code *_token_id}; add-BOS/EOS
 * from the post-processor template, overridden by {@code add_bos_token}/{@code add_eos_token};
 * the chat template from {@code chat_template} (or {@code chat_template.jinja}).
 * Not reproduced: llama.cpp re-encodes non-normalised added tokens through the HF tokenizer.
 */
final class HfTokenizer {
    static final int NORMAL = 1;
    static final int UNKNOWN = 2;
    static final int CONTROL = 3;
    static final int USER_DEFINED = 4;
    static final int UNUSED = 5;
    static final int BYTE = 6;

    /** Llama 3's pre-tokenizer regex, as tokenizer.json spells it. */
    static final String LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
            + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    /** Qwen2's: Llama 3's with single digits. */
    static final String QWEN2_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
            + " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    private static final String[] SPECIAL_TYPES = {"bos", "eos", "unk", "sep", "pad"};
    /** GGUF key suffix per special type. */
    private static final Map<String, String> SPECIAL_KEYS = Map.of(
            "bos", "bos_token_id", "eos", "eos_token_id", "unk", "unknown_token_id",
            "sep", "seperator_token_id", "pad", "padding_token_id");

    final String model;
    final String pre;
    final String[] tokens;
    final float[] scores;
    final int[] types;
    final String[] merges;
    final Map<String, Integer> specialIds;
    final Map<String, Boolean> addSpecial;
    final Boolean addSpacePrefix;
    final Map<String, String> chatTemplates;

    private HfTokenizer(String model, String pre, String[] tokens, float[] scores, int[] types, String[] merges,
                        Map<String, Integer> specialIds, Map<String, Boolean> addSpecial, Boolean addSpacePrefix,
                        Map<String, String> chatTemplates) {
        this.model = model;
        this.pre = pre;
        this.tokens = tokens;
        this.scores = scores;
        this.types = types;
        this.merges = merges;
        this.specialIds = specialIds;
        this.addSpecial = addSpecial;
        this.addSpacePrefix = addSpacePrefix;
        this.chatTemplates = chatTemplates;
    }

    static HfTokenizer read(Path dir, HfConfig config) {
        Path file = dir.resolve("tokenizer.json");
        JsonNode root = Json.read(file);
        JsonNode tokConfig = Json.readIfPresent(dir.resolve("tokenizer_config.json"));
        JsonNode bpe = root.path("model");
        if (!"BPE".equals(bpe.path("type").asText())) {
            throw new ModelFormatException(file + ": tokenizer model " + bpe.path("type").asText("(none)")
                    + " is not supported (BPE only)");
        }
        JsonNode vocabNode = bpe.get("vocab");
        if (vocabNode == null || !vocabNode.isObject() || vocabNode.isEmpty()) {
            throw new ModelFormatException(file + ": missing model.vocab");
        }
        Map<Integer, String> byId = new HashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = vocabNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            putUnique(byId, e.getValue().asInt(-1), e.getKey(), file);
        }
        int baseSize = byId.size();
        List<JsonNode> added = new ArrayList<>();
        root.path("added_tokens").forEach(added::add);
        Set<Integer> specialAdded = new HashSet<>();
        Set<Integer> addedIds = new HashSet<>();
        for (JsonNode a : added) {
            int id = a.path("id").asInt(-1);
            String content = a.path("content").asText(null);
            if (id < 0 || content == null) {
                throw new ModelFormatException(file + ": added token without id/content: " + a);
            }
            if (!content.equals(byId.get(id))) {
                putUnique(byId, id, content, file);
            }
            addedIds.add(id);
            if (a.path("special").asBoolean(false)) {
                specialAdded.add(id);
            }
        }
        boolean sentencePiece = bpe.path("byte_fallback").asBoolean(false);
        int size = Math.max(config.vocabSize(), byId.keySet().stream().mapToInt(Integer::intValue).max().orElse(0) + 1);
        if (size > config.vocabSize()) {
            throw new ModelFormatException(file + ": token id " + (size - 1) + " does not fit vocab_size "
                    + config.vocabSize() + " of config.json");
        }
        String[] tokens = new String[size];
        int[] types = new int[size];
        float[] scores = sentencePiece ? new float[size] : null;
        String unk = bpe.path("unk_token").asText(null);
        int normalCount = 0;
        for (int id = 0; id < size; id++) {
            String t = byId.get(id);
            if (t == null) {
                tokens[id] = "[PAD" + id + "]";
                types[id] = UNUSED;
                continue;
            }
            tokens[id] = t;
            if (sentencePiece) {
                if (BYTE_TOKEN.matcher(t).matches()) {
                    types[id] = BYTE;
                } else if (t.equals(unk)) {
                    types[id] = UNKNOWN;
                } else if (specialAdded.contains(id)) {
                    types[id] = CONTROL;
                } else if (addedIds.contains(id) && id >= baseSize) {
                    types[id] = USER_DEFINED;
                } else {
                    types[id] = NORMAL;
                    scores[id] = -(float) normalCount++;
                }
            } else if (addedIds.contains(id)) {
                if (specialAdded.contains(id) || looksSpecial(t)) {
                    types[id] = CONTROL;
                } else {
                    tokens[id] = t.replace("\u2581", " ");
                    types[id] = USER_DEFINED;
                }
            } else {
                types[id] = NORMAL;
            }
        }
        String pre = sentencePiece ? null : preTokenizer(file, root.path("pre_tokenizer"));
        String[] merges = sentencePiece ? null : merges(file, bpe.path("merges"));

        Map<String, Integer> special = new LinkedHashMap<>();
        Map<String, Boolean> addSpecial = new LinkedHashMap<>();
        readPostProcessor(root.path("post_processor"), tokConfig, addSpecial);
        if (tokConfig != null) {
            for (String type : SPECIAL_TYPES) {
                JsonNode entry = tokConfig.get(type + "_token");
                String content = entry == null ? null : entry.isTextual() ? entry.asText() : entry.path("content").asText(null);
                if (content != null) {
                    for (JsonNode a : added) {
                        if (content.equals(a.path("content").asText())) {
                            special.putIfAbsent(type, a.path("id").asInt());
                            break;
                        }
                    }
                }
                JsonNode add = tokConfig.get("add_" + type + "_token");
                if (add != null && add.isBoolean()) {
                    addSpecial.put(type, add.asBoolean());
                }
            }
        }
        if (config.bosTokenId() != null && config.bosTokenId() < size) {
            special.putIfAbsent("bos", config.bosTokenId());
        }
        if (config.eosTokenId() != null && config.eosTokenId() < size) {
            special.putIfAbsent("eos", config.eosTokenId());
        }
        Boolean spacePrefix = tokConfig != null && tokConfig.path("add_prefix_space").isBoolean()
                ? tokConfig.get("add_prefix_space").asBoolean() : null;
        return new HfTokenizer(sentencePiece ? "llama" : "gpt2", pre, tokens, scores, types, merges, special,
                addSpecial, spacePrefix, chatTemplates(dir, tokConfig));
    }

    private static void putUnique(Map<Integer, String> byId, int id, String token, Path file) {
        if (id < 0) {
            throw new ModelFormatException(file + ": token " + token + " has no valid id");
        }
        String previous = byId.put(id, token);
        if (previous != null && !previous.equals(token)) {
            throw new ModelFormatException(file + ": id " + id + " is both " + previous + " and " + token);
        }
    }

    /** llama.cpp's {@code does_token_look_special}. */
    static boolean looksSpecial(String t) {
        return t.equals("<pad>") || t.equals("<mask>") || t.equals("<2mass>") || t.equals("[@BOS@]")
                || (t.startsWith("<|") && t.endsWith("|>")) || (t.startsWith("<\uFF5C") && t.endsWith("\uFF5C>"));
    }

    private static String preTokenizer(Path file, JsonNode pre) {
        List<JsonNode> steps = new ArrayList<>();
        if ("Sequence".equals(pre.path("type").asText())) {
            pre.path("pretokenizers").forEach(steps::add);
        } else if (!pre.isMissingNode() && !pre.isNull()) {
            steps.add(pre);
        }
        String regex = null;
        boolean byteLevelRegex = false;
        for (JsonNode step : steps) {
            switch (step.path("type").asText()) {
                case "Split" -> regex = step.path("pattern").path("Regex").asText(null);
                case "ByteLevel" -> byteLevelRegex = step.path("use_regex").asBoolean(true);
                default -> { }
            }
        }
        if (regex != null) {
            if (regex.equals(LLAMA3_REGEX)) {
                return "llama-bpe";
            }
            if (regex.equals(QWEN2_REGEX)) {
                return "qwen2";
            }
            throw new ModelFormatException(file + ": unsupported pre-tokenizer regex " + regex
                    + " (supported: Llama 3's, Qwen2's, GPT-2's ByteLevel)");
        }
        if (byteLevelRegex) {
            return "gpt-2";
        }
        throw new ModelFormatException(file + ": unsupported pre-tokenizer " + pre);
    }

    private static String[] merges(Path file, JsonNode merges) {
        if (!merges.isArray() || merges.isEmpty()) {
            throw new ModelFormatException(file + ": byte-level BPE without model.merges");
        }
        String[] out = new String[merges.size()];
        for (int i = 0; i < out.length; i++) {
            JsonNode m = merges.get(i);
            if (m.isTextual()) {
                out[i] = m.asText();
            } else if (m.isArray() && m.size() == 2) {
                // transformers >= 4.45 stores pairs so parts may hold spaces; GGUF keeps "a b" with
                // spaces inside a part written as U+0120, as llama.cpp's converter does.
                out[i] = m.get(0).asText().replace(' ', '\u0120') + " " + m.get(1).asText().replace(' ', '\u0120');
            } else {
                throw new ModelFormatException(file + ": merge " + i + " is neither \"a b\" nor [a, b]: " + m);
            }
        }
        return out;
    }

    /** A TemplateProcessing post-processor that puts a special token first (last) adds BOS (EOS). */
    private static void readPostProcessor(JsonNode post, JsonNode tokConfig, Map<String, Boolean> addSpecial) {
        List<JsonNode> processors = new ArrayList<>();
        if (post.has("processors")) {
            post.path("processors").forEach(processors::add);
        } else if (!post.isMissingNode() && !post.isNull()) {
            processors.add(post);
        }
        String bos = tokenContent(tokConfig, "bos_token");
        String eos = tokenContent(tokConfig, "eos_token");
        for (JsonNode p : processors) {
            if (!"TemplateProcessing".equals(p.path("type").asText())) {
                continue;
            }
            JsonNode single = p.path("single");
            if (single.size() > 1) {
                String first = single.get(0).path("SpecialToken").path("id").asText(null);
                if (first != null) {
                    addSpecial.put("bos", bos == null || first.equals(bos));
                }
                String last = single.get(single.size() - 1).path("SpecialToken").path("id").asText(null);
                if (last != null) {
                    addSpecial.put("eos", eos == null || last.equals(eos));
                }
            }
        }
    }

    private static String tokenContent(JsonNode tokConfig, String key) {
        if (tokConfig == null || !tokConfig.has(key)) {
            return null;
        }
        JsonNode e = tokConfig.get(key);
        return e.isTextual() ? e.asText() : e.path("content").asText(null);
    }

    /** Named templates; "default" is {@code tokenizer.chat_template}. */
    private static Map<String, String> chatTemplates(Path dir, JsonNode tokConfig) {
        Map<String, String> out = new LinkedHashMap<>();
        JsonNode t = tokConfig == null ? null : tokConfig.get("chat_template");
        if (t != null && t.isTextual()) {
            out.put("default", t.asText());
        } else if (t != null && t.isArray()) {
            for (JsonNode named : t) {
                if (named.path("name").isTextual() && named.path("template").isTextual()) {
                    out.put(named.get("name").asText(), named.get("template").asText());
                }
            }
        } else if (Files.isRegularFile(dir.resolve("chat_template.jinja"))) {
            try {
                out.put("default", Files.readString(dir.resolve("chat_template.jinja")));
            } catch (IOException e) {
                throw new ModelFormatException("cannot read " + dir.resolve("chat_template.jinja") + ": " + e.getMessage(), e);
            }
        }
        return out;
    }

    /** Writes the {@code tokenizer.*} keys. */
    void writeTo(GgufWriter w) {
        w.putString("tokenizer.ggml.model", model);
        if (pre != null) {
            w.putString("tokenizer.ggml.pre", pre);
        }
        w.putStrings("tokenizer.ggml.tokens", tokens);
        if (scores != null) {
            w.putF32s("tokenizer.ggml.scores", scores);
        }
        w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types);
        if (merges != null) {
            w.putStrings("tokenizer.ggml.merges", merges);
        }
        specialIds.forEach((type, id) -> w.putU32("tokenizer.ggml." + SPECIAL_KEYS.get(type), id));
        addSpecial.forEach((type, add) -> w.putBool("tokenizer.ggml.add_" + type + "_token", add));
        if (addSpacePrefix != null) {
            w.putBool("tokenizer.ggml.add_space_prefix", addSpacePrefix);
        }
        chatTemplates.forEach((name, template) -> w.putString(
                name.equals("default") ? "tokenizer.chat_template" : "tokenizer.chat_template." + name, template));
    }
}
