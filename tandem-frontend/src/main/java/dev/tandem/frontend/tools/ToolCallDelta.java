package dev.tandem.frontend.tools;

/**
 * What one piece of output added to one function call, as OpenAI streams it in
 * {@code delta.tool_calls}: the first delta of a call has its {@code id} and {@code name} (and
 * possibly the first arguments), later ones only argument text.
 *
 * @param index     the call's place in the reply (0, 1, ...)
 * @param id        the call's id on its first delta, else null
 * @param name      the function's name on its first delta, else null
 * @param arguments more of the arguments' JSON text (possibly empty)
 */
public record ToolCallDelta(int index, String id, String name, String arguments) {
}
