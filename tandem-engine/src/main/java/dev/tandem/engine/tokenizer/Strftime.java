package dev.tandem.engine.tokenizer;

import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.Locale;

/**
 * The common directives of Python's {@code strftime} (C locale: English names), for the templates that print
 * today's date (Llama 3.1's {@code strftime_now("%d %b %Y")}): {@code %a %A %b %B %d %e %H %I %j
 * %m %M %p %S %y %Y %Z %%}. Other directives are copied through unchanged.
 *
 * <p>Stateless; safe for concurrent use.
 */
final class Strftime {
    private Strftime() {
    }

    static String format(String format, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++i);
            switch (d) {
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.US));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.US));
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.US));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.US));
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'Y' -> sb.append(t.getYear());
                case 'Z' -> sb.append(t.getZone().getDisplayName(TextStyle.SHORT, Locale.US));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(d);
            }
        }
        return sb.toString();
    }
}
