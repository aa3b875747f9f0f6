package dev.tandem.engine.tokenizer;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.tandem.core.ModelFormatException;
import dev.tandem.core.RequestException;
import dev.tandem.engine.gguf.GgufFile;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * Turns a conversation into prompt text with the model's own chat template
 * ({@code tokenizer.chat_template}, a Jinja template written for Hugging Face's
 * {@code apply_chat_template}), rendered by jinjava.
 *
 * <h2>Design</h2>
 * The template sees what Hugging Face passes: {@code messages} (maps with {@code role} and
 * {@code content}; an assistant's calls as {@code tool_calls}, each {@code {id, type: "function",
 * function: {name, arguments}}} with the arguments parsed into a mapping, as Hugging Face
 * templates expect to {@code tojson} them; a tool result's {@code tool_call_id}),
 * {@code tools} when the request has some (OpenAI's {@code {type, function}} objects),
 * {@code add_generation_prompt}, {@code bos_token}, {@code eos_token}, and the
 * functions {@code raise_exception(message)} and {@code strftime_now(format)}. Jinjava is set up
 * as Hugging Face sets up Jinja: {@code trim_blocks} and {@code lstrip_blocks} on, and one
 * trailing newline of the template dropped ({@code keep_trailing_newline} off). Jinjava only
 * honours {@code {{-} and {@code -}}} (whitespace control on expressions, which Qwen's template
 * uses on every line) with the legacy override {@code useTrimmingForNotesAndExpressions}; the
 * other overrides stay off (turning all of them on breaks {@code {%-} parsing).
 *
 * <p>Errors: a template that does not parse or render (an unknown tag such as
 * {@code {% generation %}}, Python string methods such as {@code .startswith}, which jinjava
 * lacks) is a {@link ModelFormatException}, detected when the template is created by rendering
 * a sample conversation. A template that calls {@code raise_exception} for a conversation
 * ("roles must alternate") throws {@link RequestException} of kind {@code INVALID} with that
 * message, since the conversation is what the client must change.
 *
 * <p>Fallback when the model has no template (documented choice): ChatML
 * ({@code <|im_start|>role\ncontent<|im_end|>\n}) if the vocabulary has the
 * {@code <|im_start|>} and {@code <|im_end|>} tokens, since the model was then trained on it;
 * otherwise plain {@code role: content} lines ending in {@code assistant:}, which a base model
 * such as stories260K can at least continue. An assistant message is written right after
 * {@code assistant:} (no space added), where its generation began, so a follow-up prompt repeats
 * the earlier generation prompt and reply exactly. Neither fallback writes BOS: {@link #encode} adds
 * it when the model wants one.
 *
 * <h2>Invariants</h2>
 * A constructed template has rendered the sample conversation without a fatal error.
 *
 * <h2>Concurrency</h2>
 * Safe for concurrent use: each render has its own jinjava interpreter; the clock used by
 * {@code strftime_now} is passed through a thread-local for the duration of one render.
 *
 * <h2>References</h2>
 * Hugging Face transformers {@code PreTrainedTokenizerBase.apply_chat_template}; jinjava
 * quirks in ../shared/design/DEPENDENCIES.md.
 */
public final class ChatTemplate {
    static final String CHATML = "{% for message in messages %}"
            + "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    static final String PLAIN = "{% for message in messages %}"
            + "{% if message['role'] == 'assistant' %}"
            + "{{ 'assistant:' + message['content'] + '\\n' }}"
            + "{% else %}{{ message['role'] + ': ' + message['content'] + '\\n' }}{% endif %}"
            + "{% endfor %}{% if add_generation_prompt %}{{ 'assistant:' }}{% endif %}";

    private static final long MAX_OUTPUT_CHARS = 64L << 20;
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final ThreadLocal<Clock> RENDER_CLOCK = new ThreadLocal<>();
    private static final List<ChatMessage> SAMPLE = List.of(new ChatMessage("system", "You are helpful."),
            new ChatMessage("user", "Hi"), new ChatMessage("assistant", "Hello"), new ChatMessage("user", "Bye"));

    private final String name;
    private final String source;
    private final String bosToken;
    private final String eosToken;
    private final Clock clock;
    private final Jinjava jinjava;

    private ChatTemplate(String name, String source, String bosToken, String eosToken, Clock clock) {
        this.name = name;
        this.source = source.endsWith("\r\n") ? source.substring(0, source.length() - 2)
                : source.endsWith("\n") ? source.substring(0, source.length() - 1) : source;
        this.bosToken = bosToken;
        this.eosToken = eosToken;
        this.clock = clock;
        this.jinjava = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).withLstripBlocks(true)
                .withLegacyOverrides(LegacyOverrides.newBuilder().withUseTrimmingForNotesAndExpressions(true).build()).withMaxOutputSize(MAX_OUTPUT_CHARS).build());
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                ChatTemplate.class, "strftimeNow", String.class));
        try {
            render(SAMPLE, true);
        } catch (RequestException e) {
            // raise_exception on the sample: the template is fine, it just wants other conversations.
        } catch (ModelFormatException e) {
            throw new ModelFormatException("chat template '" + name + "' cannot be used: " + e.getMessage(), e);
        }
    }

    /**
     * The model's template from {@code tokenizer.chat_template}, or the fallback described in the
     * class comment.
     *
     * @throws ModelFormatException if the model's template cannot be rendered
     */
    public static ChatTemplate forModel(GgufFile gguf, Tokenizer tokenizer) {
        String bos = tokenizer.bosId() >= 0 ? tokenizer.tokenText(tokenizer.bosId()) : "";
        String eos = tokenizer.eosId() >= 0 ? tokenizer.tokenText(tokenizer.eosId()) : "";
        String source = gguf.string("tokenizer.chat_template", null);
        if (source != null && !source.isBlank()) {
            return jinja(String.valueOf(gguf.path().getFileName()), source, bos, eos);
        }
        return fallback(tokenizer);
    }

    /** The fallback for a model without a template: ChatML if its vocabulary knows it, else plain lines. */
    public static ChatTemplate fallback(Tokenizer tokenizer) {
        boolean chatMl = isSingleToken(tokenizer, "<|im_start|>") && isSingleToken(tokenizer, "<|im_end|>");
        String bos = tokenizer.bosId() >= 0 ? tokenizer.tokenText(tokenizer.bosId()) : "";
        String eos = tokenizer.eosId() >= 0 ? tokenizer.tokenText(tokenizer.eosId()) : "";
        return chatMl ? new ChatTemplate("chatml (fallback)", CHATML, bos, eos, Clock.systemDefaultZone())
                : new ChatTemplate("plain (fallback)", PLAIN, bos, eos, Clock.systemDefaultZone());
    }

    private static boolean isSingleToken(Tokenizer tokenizer, String text) {
        int[] ids = tokenizer.encode(text, false, true);
        return ids.length == 1 && tokenizer.tokenText(ids[0]).equals(text);
    }

    /**
     * A template from Jinja source, with the texts of the BOS and EOS tokens.
     *
     * @throws ModelFormatException if it does not render
     */
    public static ChatTemplate jinja(String name, String source, String bosToken, String eosToken) {
        return new ChatTemplate(name, source, bosToken, eosToken, Clock.systemDefaultZone());
    }

    /** This template with {@code strftime_now} reading {@code clock}. */
    public ChatTemplate withClock(Clock clock) {
        return new ChatTemplate(name, source, bosToken, eosToken, Objects.requireNonNull(clock, "clock"));
    }

    /** The Jinja source (what tool-call formats are recognised from). */
    public String source() {
        return source;
    }

    /** A short name: the model file's name, or "chatml (fallback)" / "plain (fallback)". */
    public String name() {
        return name;
    }

    /**
     * Renders the conversation.
     *
     * @param addGenerationPrompt end with the start of an assistant turn (for generation)
     * @throws RequestException (INVALID) if the template rejects the conversation
     * @throws ModelFormatException if the template fails for another reason
     */
    public String render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        return render(messages, null, addGenerationPrompt);
    }

    /**
     * Renders the conversation with the functions the model may call.
     *
     * @param tools OpenAI's tool objects as JSON text ({@code [{"type": "function", "function":
     *              {...}}]}), or null for none (then {@code tools} is undefined to the template)
     */
    public String render(List<ChatMessage> messages, String tools, boolean addGenerationPrompt) {
        List<Map<String, Object>> list = new ArrayList<>(messages.size());
        for (ChatMessage m : messages) {
            Map<String, Object> map = new HashMap<>();
            map.put("role", m.role());
            if (m.content() != null) {
                map.put("content", m.content());
            }
            if (!m.toolCalls().isEmpty()) {
                map.put("tool_calls", toolCalls(m.toolCalls()));
            }
            if (m.toolCallId() != null) {
                map.put("tool_call_id", m.toolCallId());
            }
            list.add(map);
        }
        Map<String, Object> context = new HashMap<>();
        context.put("messages", list);
        if (tools != null) {
            context.put("tools", fromJson(tools));
        }
        context.put("add_generation_prompt", addGenerationPrompt);
        context.put("bos_token", bosToken);
        context.put("eos_token", eosToken);
        RenderResult result;
        RENDER_CLOCK.set(clock);
        try {
            result = jinjava.renderForResult(source, context);
        } finally {
            RENDER_CLOCK.remove();
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() != TemplateError.ErrorType.FATAL) {
                continue;
            }
            for (Throwable t = error.getException(); t != null; t = t.getCause()) {
                if (t instanceof Raised raised) {
                    throw new RequestException(RequestException.Kind.INVALID,
                            "the chat template rejected the conversation: " + raised.getMessage(), "messages", null);
                }
            }
            throw new ModelFormatException("chat template '" + name + "' failed at line " + error.getLineno()
                    + ": " + error.getMessage());
        }
        return result.getOutput();
    }

    private static List<Map<String, Object>> toolCalls(List<ChatMessage.ToolCall> calls) {
        List<Map<String, Object>> out = new ArrayList<>(calls.size());
        for (ChatMessage.ToolCall c : calls) {
            Map<String, Object> function = new LinkedHashMap<>();
            function.put("name", c.name());
            Object arguments;
            try {
                arguments = fromJson(c.arguments());
            } catch (RuntimeException e) {
                arguments = c.arguments(); // not JSON: the template gets the text as the client sent it
            }
            function.put("arguments", arguments);
            Map<String, Object> call = new LinkedHashMap<>();
            if (c.id() != null) {
                call.put("id", c.id());
            }
            call.put("type", "function");
            call.put("function", function);
            out.add(call);
        }
        return out;
    }

    /** JSON text as maps, lists, strings, numbers and booleans (what Jinja templates index). */
    private static Object fromJson(String json) {
        try {
            return JSON.readValue(json, Object.class);
        } catch (JacksonException e) {
            throw new IllegalArgumentException("not JSON: " + e.getOriginalMessage(), e);
        }
    }

    /**
     * Renders and tokenizes the conversation for generation, with special tokens parsed in the
     * template's own text but not in the messages' contents, adding BOS only if the model wants
     * it and the rendered text does not already start with it.
     */
    public int[] encode(Tokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt) {
        return encode(tokenizer, messages, addGenerationPrompt, reply -> null);
    }

    /**
     * {@link #encode(Tokenizer, List, boolean)}, where an assistant message whose content the
     * template renders unchanged is given the ids {@code replies} knows for it (the ids it was
     * generated as), instead of its re-tokenized text.
     *
     * <p>Where the contents are: the template is rendered a second time with each content replaced
     * by a marker; if putting the contents back gives the same text, the markers' places are the
     * contents' places. A template that looks inside contents (trims them, tests them) renders
     * differently; then each content is searched for in the text, in message order.
     */
    public int[] encode(Tokenizer tokenizer, List<ChatMessage> messages, boolean addGenerationPrompt,
                        Function<String, int[]> replies) {
        return encode(tokenizer, messages, null, addGenerationPrompt, replies);
    }

    /** {@link #encode(Tokenizer, List, boolean, Function)} with {@code tools} (JSON text, or null). */
    public int[] encode(Tokenizer tokenizer, List<ChatMessage> messages, String tools, boolean addGenerationPrompt,
                        Function<String, int[]> replies) {
        String text = render(messages, tools, addGenerationPrompt);
        boolean hasBos = !bosToken.isEmpty() && text.startsWith(bosToken);
        List<TextSpan> spans = contentSpans(text, messages, tools, addGenerationPrompt, replies);
        return tokenizer.encode(text.getBytes(StandardCharsets.UTF_8), tokenizer.addsBos() && !hasBos, true, spans);
    }

    /** The byte ranges of the messages' contents in the rendered text, sorted and disjoint. */
    private List<TextSpan> contentSpans(String text, List<ChatMessage> messages, String tools,
                                        boolean addGenerationPrompt, Function<String, int[]> replies) {
        List<int[]> places = markedPlaces(text, messages, tools, addGenerationPrompt);
        if (places == null) {
            places = searchedPlaces(text, messages);
        }
        List<TextSpan> spans = new ArrayList<>(places.size());
        int charAt = 0;
        int byteAt = 0;
        for (int[] place : places) { // {message index, start char, end char, exact}
            ChatMessage m = messages.get(place[0]);
            int start = byteAt + utf8Length(text, charAt, place[1]);
            int end = start + utf8Length(text, place[1], place[2]);
            charAt = place[2];
            byteAt = end;
            int[] ids = place[3] == 1 && "assistant".equals(m.role()) ? replies.apply(m.content()) : null;
            spans.add(new TextSpan(start, end, ids));
        }
        return spans;
    }

    /** Places found by rendering with markers, or null if the template does not treat contents as opaque. */
    private List<int[]> markedPlaces(String text, List<ChatMessage> messages, String tools,
                                     boolean addGenerationPrompt) {
        List<ChatMessage> marked = new ArrayList<>(messages.size());
        for (int i = 0; i < messages.size(); i++) {
            ChatMessage m = messages.get(i);
            marked.add(m.content() == null || m.content().isEmpty() ? m
                    : new ChatMessage(m.role(), marker(i), m.toolCalls(), m.toolCallId()));
        }
        String withMarkers;
        try {
            withMarkers = render(marked, tools, addGenerationPrompt);
        } catch (RuntimeException e) {
            return null;
        }
        List<int[]> places = new ArrayList<>();
        StringBuilder rebuilt = new StringBuilder(text.length());
        int from = 0;
        for (int i = 0; i < messages.size(); i++) {
            String content = messages.get(i).content();
            if (content == null || content.isEmpty()) {
                continue;
            }
            String marker = marker(i);
            int at = withMarkers.indexOf(marker, from);
            if (at < 0 || withMarkers.indexOf(marker, at + marker.length()) >= 0) {
                return null; // dropped or repeated by the template
            }
            rebuilt.append(withMarkers, from, at);
            int start = rebuilt.length();
            rebuilt.append(content);
            places.add(new int[] {i, start, rebuilt.length(), 1});
            from = at + marker.length();
        }
        rebuilt.append(withMarkers, from, withMarkers.length());
        return rebuilt.toString().equals(text) ? places : null;
    }

    private static String marker(int message) {
        return "\uE000" + message + "\uE001";
    }

    /** Each content (or, failing that, its trimmed text) searched for after the previous one. */
    private static List<int[]> searchedPlaces(String text, List<ChatMessage> messages) {
        List<int[]> places = new ArrayList<>();
        int from = 0;
        for (int i = 0; i < messages.size(); i++) {
            String content = messages.get(i).content();
            if (content == null || content.isBlank()) {
                continue;
            }
            int at = text.indexOf(content, from);
            int exact = 1;
            int length = content.length();
            if (at < 0) {
                String trimmed = content.strip();
                at = text.indexOf(trimmed, from);
                exact = 0;
                length = trimmed.length();
            }
            if (at >= 0) {
                places.add(new int[] {i, at, at + length, exact});
                from = at + length;
            }
        }
        return places;
    }

    private static int utf8Length(String s, int from, int to) {
        int n = 0;
        for (int i = from; i < to; i++) {
            char c = s.charAt(i);
            if (c < 0x80) {
                n += 1;
            } else if (c < 0x800) {
                n += 2;
            } else if (Character.isHighSurrogate(c) && i + 1 < to && Character.isLowSurrogate(s.charAt(i + 1))) {
                n += 4;
                i++;
            } else {
                n += Character.isSurrogate(c) ? 1 : 3; // an unpaired surrogate is encoded as '?'
            }
        }
        return n;
    }

    /** Jinja {@code raise_exception(message)}: aborts rendering with the template's message. */
    public static String raiseException(String message) {
        throw new Raised(message);
    }

    /** Jinja {@code strftime_now(format)}: the current time formatted as Python's strftime does. */
    public static String strftimeNow(String format) {
        Clock clock = RENDER_CLOCK.get();
        return Strftime.format(format, ZonedDateTime.now(clock != null ? clock : Clock.systemDefaultZone()));
    }

    /** Thrown by {@code raise_exception}; found again in jinjava's error list. */
    private static final class Raised extends RuntimeException {
        Raised(String message) {
            super(message, null, false, false);
        }
    }

    @Override
    public String toString() {
        return "chat template " + name;
    }
}
