package dev.tandem.cli;

import java.util.List;
import java.util.stream.Collectors;
import picocli.CommandLine;

/** The command line as the user typed it, for reports. */
final class CommandLines {
    private CommandLines() {
    }

    static String typed(CommandLine.Model.CommandSpec spec) {
        List<String> args = spec.commandLine().getParseResult().originalArgs(); // the whole line, from the root
        return "tandem" + (args.isEmpty() ? "" : " " + args.stream().map(CommandLines::quote)
                .collect(Collectors.joining(" ")));
    }

    static String quote(String arg) {
        return arg.isEmpty() || arg.chars().anyMatch(c -> " \t\"'$`\\|&;<>()*?".indexOf(c) >= 0)
                ? "'" + arg.replace("'", "'\\''") + "'" : arg;
    }
}
