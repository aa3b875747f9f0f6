package dev.tandem.cli;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicInteger;
import picocli.CommandLine;

/** Runs CLI commands on their own threads, as {@code tandem} would, and stops them newest first. */
final class CommandRunner {
    /** A command running on its own thread. */
    record Running<C>(C command, Thread thread, AtomicInteger exit, Foreground foreground) {
        void stop() throws InterruptedException {
            foreground.stop();
            thread.join(Duration.ofSeconds(30));
        }
    }

    private final List<Running<?>> started = new ArrayList<>();

    <C extends Callable<Integer>> Running<C> run(C command, Foreground fg, String... args) {
        new CommandLine(command).parseArgs(args);
        AtomicInteger exit = new AtomicInteger(-1);
        Thread t = Thread.ofPlatform().name("command-under-test").start(() -> {
            try {
                exit.set(command.call());
            } catch (Exception e) {
                exit.set(99);
                throw new IllegalStateException(e);
            }
        });
        Running<C> r = new Running<>(command, t, exit, fg);
        started.add(r);
        return r;
    }

    void stopAll() throws InterruptedException {
        for (int i = started.size() - 1; i >= 0; i--) {
            started.get(i).stop();
        }
        started.clear();
    }
}
