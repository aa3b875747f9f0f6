package dev.tandem.core;

import java.util.Locale;

/** A configuration value or command-line option is invalid. Thrown at startup, before any work. */
public final class ConfigException extends TandemException {
    public ConfigException(String message) {
        super(message);
    }

    public ConfigException(String message, Throwable cause) {
        super(message, cause);
    }

    /**
     * The constant of {@code type} whose name is {@code text} (any case, surrounding blanks
     * ignored).
     *
     * @param what how the message names the value ("KV dtype", "role")
     * @throws ConfigException naming the text and every accepted value, in declaration order
     */
    public static <E extends Enum<E>> E parseEnum(Class<E> type, String text, String what) {
        E[] values = type.getEnumConstants();
        for (E e : values) {
            if (e.name().equalsIgnoreCase(text.trim())) {
                return e;
            }
        }
        StringBuilder expected = new StringBuilder();
        for (int i = 0; i < values.length; i++) {
            expected.append(i == 0 ? "" : i == values.length - 1 ? " or " : ", ")
                    .append(values[i].name().toLowerCase(Locale.ROOT));
        }
        throw new ConfigException("unknown " + what + " '" + text + "' (expected " + expected + ")");
    }
}
