package dev.tandem.engine.loader;

import dev.tandem.core.ConfigException;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * Turns a {@code --model} value into a GGUF file, so everything downstream reads one format.
 *
 * <h2>Design</h2>
 * A value is tried, in order, as:
 * <ol>
 *   <li>an existing path: a {@code .gguf} file, or a directory that is a Hugging Face model
 *       (config.json + *.safetensors + tokenizer.json, converted once by {@link HfConverter}
 *       into {@code <cache>/converted/}) or holds exactly one {@code .gguf} file;
 *   <li>a name, looked up as {@code NAME.gguf} or {@code NAME/} in each folder of the search path
 *       ({@code TANDEM_MODEL_PATH}, colon-separated), then in the cache folder;
 *   <li>a {@link KnownModel} name, downloaded into the cache and verified
 *       ({@link ModelDownloader}).
 * </ol>
 * A value with a '/' that does not exist is an error at once: it is meant as a path. A bare
 * {@code NAME.gguf} that is not in the current folder is looked up as that file name in the
 * search folders and the cache. With no value at all, {@link KnownModel#DEFAULT_NAME} is used. Failures name
 * every place that was searched.
 *
 * <p>Thread ownership: stateless apart from its settings; safe for concurrent use (two
 * concurrent downloads of one model each write their own temporary file; the last move wins
 * with identical bytes).
 */
public final class ModelResolver {
    /** Where a resolved model came from. */
    public enum Source { PATH, SEARCH_PATH, CACHE, DOWNLOAD }

    /**
     * @param spec      the {@code --model} value as given (or the default name)
     * @param path      the GGUF file to open
     * @param source    how it was found
     * @param origin    what the value pointed at: the file, or the Hugging Face directory it was converted from
     */
    public record ResolvedModel(String spec, Path path, Source source, Path origin) {
    }

    /**
     * Resolver settings.
     *
     * @param searchPath     folders searched for {@code NAME.gguf} / {@code NAME/}, in order
     * @param cacheDir       downloads and conversions live here (default {@code ~/.cache/tandem})
     * @param hfEndpoint     Hugging Face base URL (default {@code https://huggingface.co})
     * @param downloads      whether known names may be downloaded
     * @param connectTimeout TCP/TLS connect deadline for downloads
     * @param stallTimeout   a download fails after this long without new bytes
     * @param deadline       a download fails after this long in total
     * @param progress       where download and conversion progress is printed, or null
     */
    public record Settings(List<Path> searchPath, Path cacheDir, URI hfEndpoint, boolean downloads,
                           Duration connectTimeout, Duration stallTimeout, Duration deadline, PrintStream progress) {
        public static final URI DEFAULT_HF_ENDPOINT = URI.create("https://huggingface.co");
        public static final Duration DEFAULT_CONNECT_TIMEOUT = Duration.ofSeconds(15);
        public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);
        public static final Duration DEFAULT_DEADLINE = Duration.ofHours(2);

        public Settings {
            searchPath = List.copyOf(searchPath);
            if (cacheDir == null || hfEndpoint == null) {
                throw new ConfigException("model resolver needs a cache folder and a Hugging Face endpoint");
            }
            for (Duration d : new Duration[] {connectTimeout, stallTimeout, deadline}) {
                if (d == null || d.isNegative() || d.isZero()) {
                    throw new ConfigException("download timeouts must be positive, got " + d);
                }
            }
        }

        /**
         * Settings from environment variables: {@code TANDEM_MODEL_PATH} (colon-separated folders),
         * {@code TANDEM_CACHE_DIR} (default {@code <home>/.cache/tandem}), {@code TANDEM_HF_ENDPOINT}
         * (default https://huggingface.co) and {@code TANDEM_OFFLINE=1} (no downloads).
         */
        public static Settings fromEnvironment(Map<String, String> env, Path home, PrintStream progress) {
            List<Path> searchPath = new ArrayList<>();
            String modelPath = env.getOrDefault("TANDEM_MODEL_PATH", "");
            for (String entry : modelPath.split(":")) {
                if (!entry.isBlank()) {
                    searchPath.add(Path.of(entry.strip()));
                }
            }
            String cache = env.get("TANDEM_CACHE_DIR");
            Path cacheDir = cache == null || cache.isBlank() ? home.resolve(".cache").resolve("tandem") : Path.of(cache);
            String endpoint = env.get("TANDEM_HF_ENDPOINT");
            URI hf = DEFAULT_HF_ENDPOINT;
            if (endpoint != null && !endpoint.isBlank()) {
                try {
                    hf = URI.create(endpoint.strip().replaceAll("/+$", ""));
                } catch (IllegalArgumentException e) {
                    throw new ConfigException("TANDEM_HF_ENDPOINT is not a URL: " + endpoint, e);
                }
                if (hf.getScheme() == null || !hf.getScheme().startsWith("http")) {
                    throw new ConfigException("TANDEM_HF_ENDPOINT must be an http(s) URL, got " + endpoint);
                }
            }
            boolean offline = "1".equals(env.get("TANDEM_OFFLINE")) || "true".equalsIgnoreCase(env.get("TANDEM_OFFLINE"));
            return new Settings(searchPath, cacheDir, hf, !offline, DEFAULT_CONNECT_TIMEOUT, DEFAULT_STALL_TIMEOUT,
                    DEFAULT_DEADLINE, progress);
        }

        public Settings withTimeouts(Duration connect, Duration stall, Duration total) {
            return new Settings(searchPath, cacheDir, hfEndpoint, downloads, connect, stall, total, progress);
        }
    }

    private final Settings settings;

    public ModelResolver(Settings settings) {
        this.settings = settings;
    }

    /** A resolver configured from this process's environment and home folder, printing progress on stderr. */
    public static ModelResolver fromSystem() {
        return new ModelResolver(Settings.fromEnvironment(System.getenv(), Path.of(System.getProperty("user.home")),
                System.err));
    }

    public Settings settings() {
        return settings;
    }

    /** Resolves {@code spec} (null or blank: the default model) to a GGUF file. */
    public ResolvedModel resolve(String spec) {
        String value = spec == null || spec.isBlank() ? KnownModel.DEFAULT_NAME : spec.strip();
        Path asPath = null;
        try {
            asPath = Path.of(value);
        } catch (InvalidPathException e) {
            // Not a usable path: only a name can match.
        }
        if (asPath != null && Files.exists(asPath)) {
            return new ResolvedModel(value, fromPath(asPath), Source.PATH, asPath);
        }
        if (value.contains("/") || asPath == null) {
            throw new ModelResolutionException("model '" + value + "' not found: no such file or directory");
        }
        if (value.endsWith(".gguf")) {
            // A bare file name: look for exactly that file in the search folders and the cache.
            for (Path folder : searchFolders()) {
                Path file = folder.resolve(value);
                if (Files.isRegularFile(file)) {
                    return new ResolvedModel(value, file, folder.equals(settings.cacheDir()) ? Source.CACHE
                            : Source.SEARCH_PATH, file);
                }
            }
            throw new ModelResolutionException("model '" + value + "' not found: not in the current folder, "
                    + searchFolders().stream().map(Path::toString).collect(Collectors.joining(", ")));
        }
        for (Path folder : settings.searchPath()) {
            Optional<Path> found = inFolder(folder, value);
            if (found.isPresent()) {
                return new ResolvedModel(value, fromPath(found.get()), Source.SEARCH_PATH, found.get());
            }
        }
        Optional<KnownModel> known = KnownModel.named(value);
        Optional<Path> cached = inFolder(settings.cacheDir(), known.map(KnownModel::name).orElse(value));
        if (cached.isPresent()) {
            return new ResolvedModel(value, fromPath(cached.get()), Source.CACHE, cached.get());
        }
        if (known.isPresent() && settings.downloads()) {
            KnownModel model = known.get();
            URI url = URI.create(settings.hfEndpoint() + model.resolvePath());
            ModelDownloader downloader = new ModelDownloader(settings.connectTimeout(), settings.stallTimeout(),
                    settings.deadline(), settings.progress());
            Path file = downloader.download(model, url, settings.cacheDir().resolve(model.name() + ".gguf"));
            return new ResolvedModel(value, file, Source.DOWNLOAD, file);
        }
        throw notFound(value, known.isPresent());
    }

    private List<Path> searchFolders() {
        List<Path> folders = new ArrayList<>(settings.searchPath());
        folders.add(settings.cacheDir());
        return folders;
    }

    private ModelResolutionException notFound(String name, boolean knownButOffline) {
        StringBuilder msg = new StringBuilder("model '").append(name).append("' not found: looked for ")
                .append(name).append(".gguf and ").append(name).append("/ in ");
        if (settings.searchPath().isEmpty()) {
            msg.append("no search folders (TANDEM_MODEL_PATH is empty), ");
        } else {
            msg.append(settings.searchPath().stream().map(Path::toString).collect(Collectors.joining(", ")))
                    .append(" (TANDEM_MODEL_PATH), ");
        }
        msg.append("and ").append(settings.cacheDir()).append(" (cache)");
        if (knownButOffline) {
            msg.append("; downloads are off (TANDEM_OFFLINE)");
        } else {
            msg.append("; names Tandem can download: ")
                    .append(KnownModel.ALL.stream().map(KnownModel::name).collect(Collectors.joining(", ")));
        }
        return new ModelResolutionException(msg.toString());
    }

    /** {@code folder/NAME.gguf} or {@code folder/NAME/}, if either exists. */
    private static Optional<Path> inFolder(Path folder, String name) {
        Path file = folder.resolve(name + ".gguf");
        if (Files.isRegularFile(file)) {
            return Optional.of(file);
        }
        Path dir = folder.resolve(name);
        return Files.isDirectory(dir) ? Optional.of(dir) : Optional.empty();
    }

    /** The GGUF file for an existing path: the file itself, or what a model directory holds. */
    private Path fromPath(Path path) {
        if (!Files.isDirectory(path)) {
            return path;
        }
        if (Files.isRegularFile(path.resolve("config.json"))) {
            return new HfConverter(settings.cacheDir().resolve("converted"), settings.progress()).convert(path);
        }
        List<Path> ggufs;
        try (Stream<Path> files = Files.list(path)) {
            ggufs = files.filter(p -> p.getFileName().toString().endsWith(".gguf") && Files.isRegularFile(p)).toList();
        } catch (IOException e) {
            throw new ModelResolutionException("cannot list model directory " + path + ": " + e.getMessage(), e);
        }
        if (ggufs.size() == 1) {
            return ggufs.getFirst();
        }
        throw new ModelResolutionException("directory " + path + " holds no single model: expected config.json with"
                + " *.safetensors and tokenizer.json (Hugging Face), or exactly one .gguf file"
                + (ggufs.isEmpty() ? "" : " (found " + ggufs.size() + " .gguf files)"));
    }
}
