package dev.tandem.cli;

import dev.tandem.bench.FrontendOverheadBench;
import dev.tandem.core.ConfigException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code tandem bench frontend}: the frontend's own overhead against the engine called directly. */
@Command(name = "frontend", mixinStandardHelpOptions = true,
        description = {"The frontend's added latency per request and per streamed token, and its requests/s,",
            "against the same mock engine called in process (the mock's step time made negligible).",
            "Prints a Markdown table."})
final class BenchFrontendCommand implements Callable<Integer> {
    @Option(names = "--concurrency", split = ",", defaultValue = "1,64",
            description = "concurrent clients, comma-separated (default: ${DEFAULT-VALUE})")
    List<Integer> concurrency;

    @Option(names = "--requests", defaultValue = "1024", description = "requests per measurement (default: ${DEFAULT-VALUE})")
    int requests;

    @Option(names = "--tokens", defaultValue = "64", description = "tokens per streamed request (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--client", split = ",", defaultValue = "socket",
            description = "HTTP clients, comma-separated: socket (a minimal keep-alive client, so the figure is the"
                    + " server's) or jdk (java.net.http.HttpClient) (default: ${DEFAULT-VALUE})")
    List<String> clients;

    @Override
    public Integer call() throws Exception {
        List<FrontendOverheadBench.ClientKind> kinds = new ArrayList<>();
        for (String name : clients) {
            try {
                kinds.add(FrontendOverheadBench.ClientKind.valueOf(name.trim().toUpperCase(java.util.Locale.ROOT)));
            } catch (IllegalArgumentException e) {
                throw new ConfigException("unknown --client '" + name + "': use socket or jdk");
            }
        }
        List<FrontendOverheadBench.Result> results = new ArrayList<>();
        for (int c : concurrency) {
            for (FrontendOverheadBench.ClientKind kind : kinds) {
                results.add(FrontendOverheadBench.run(c, Math.max(c, requests), 1, false, kind));
                results.add(FrontendOverheadBench.run(c, Math.max(c, requests), tokens, true, kind));
            }
        }
        FrontendOverheadBench.print(System.out, results);
        return 0;
    }
}
