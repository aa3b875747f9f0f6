package dev.tandem.frontend.tools;

/** OpenAI's {@code tool_choice}: may the model call a function, must it, and which. */
public sealed interface ToolChoice permits ToolChoice.Auto, ToolChoice.None, ToolChoice.Required,
        ToolChoice.Function {

    /** The model decides; its reply is parsed for calls (no constraint). */
    record Auto() implements ToolChoice {
    }

    /** No call: the tools are not shown to the model and the reply is text. */
    record None() implements ToolChoice {
    }

    /** Some call must be made: decoding is constrained to one call of one of the tools. */
    record Required() implements ToolChoice {
    }

    /** This function must be called: decoding is constrained to one call of it. */
    record Function(String name) implements ToolChoice {
    }
}
