package dev.tandem.bench;

import java.util.List;

/**
 * How to start a server in its own JVM: the command up to and including the {@code serve}
 * subcommand (for Tandem: {@code java <jvm flags> -cp <classpath> dev.tandem.cli.Main serve});
 * each configuration's arguments are appended.
 */
public record ServerLauncher(List<String> commandPrefix) {
    public ServerLauncher {
        commandPrefix = List.copyOf(commandPrefix);
        if (commandPrefix.isEmpty()) {
            throw new IllegalArgumentException("empty server command");
        }
    }
}
