package dev.tandem.cli;

import dev.tandem.engine.gguf.GgufFile;
import dev.tandem.engine.gguf.GgufTensor;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

/** {@code tandem model ...}: look at and make model files. */
@Command(name = "model", mixinStandardHelpOptions = true,
        description = "Inspect and make model files.",
        subcommands = {ModelCommand.Inspect.class, ModelSynthCommand.class})
final class ModelCommand implements Runnable {
    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "inspect", mixinStandardHelpOptions = true,
            description = "Print a GGUF file's architecture, shapes, tensor types, vocabulary and chat template.")
    static final class Inspect implements Runnable {
        @Parameters(index = "0", paramLabel = "FILE", description = "a .gguf file")
        Path file;

        @Override
        public void run() {
            try (GgufFile gguf = GgufFile.open(file)) {
                System.out.printf("file:      %s (%,d bytes, GGUF v%d)%n", file, gguf.fileBytes(), gguf.version());
                System.out.printf("arch:      %s%n", gguf.string("general.architecture", "?"));
                System.out.println("metadata:");
                for (Map.Entry<String, Object> e : gguf.metadata().entrySet()) {
                    System.out.printf("  %-40s %s%n", e.getKey(), brief(e.getValue()));
                }
                System.out.printf("tensors:   %d%n", gguf.tensors().size());
                for (GgufTensor t : gguf.tensors().values()) {
                    System.out.printf("  %-32s %-5s %s%n", t.name(), t.type(), Arrays.toString(t.dims()));
                }
            }
        }

        static String brief(Object v) {
            return switch (v) {
                case String s -> s.length() > 120 ? '"' + s.substring(0, 117).replace("\n", "\\n") + "...\" ("
                        + s.length() + " chars)" : '"' + s.replace("\n", "\\n") + '"';
                case String[] a -> "[" + a.length + " strings: " + String.join(", ",
                        Arrays.copyOf(a, Math.min(5, a.length))) + (a.length > 5 ? ", ...]" : "]");
                case long[] a -> a.length > 8 ? "[" + a.length + " ints]" : Arrays.toString(a);
                case double[] a -> a.length > 8 ? "[" + a.length + " floats]" : Arrays.toString(a);
                default -> String.valueOf(v);
            };
        }
    }
}
