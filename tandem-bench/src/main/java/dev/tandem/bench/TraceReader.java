package dev.tandem.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.tandem.core.ConfigException;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads a Mooncake-format trace: JSON Lines with {@code timestamp} (ms), {@code input_length},
 * {@code output_length} and {@code hash_ids} (one id per block of {@code fileBlockTokens} tokens).
 * Every row is checked: a malformed one is reported with its line number.
 */
public final class TraceReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    private TraceReader() {
    }

    /**
     * @param limit           read at most this many rows (0 = all)
     * @param fileBlockTokens tokens per hash id in the file (512 for Mooncake traces)
     */
    public static List<TraceRecord> read(Path file, int limit, int fileBlockTokens) {
        if (!Files.isRegularFile(file)) {
            throw new ConfigException("trace file " + file + " does not exist or is not a file");
        }
        List<TraceRecord> rows = new ArrayList<>();
        try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            String line;
            int lineNumber = 0;
            while ((line = in.readLine()) != null && (limit <= 0 || rows.size() < limit)) {
                lineNumber++;
                if (!line.isBlank()) {
                    rows.add(parse(line, fileBlockTokens, file + " line " + lineNumber));
                }
            }
        } catch (IOException e) {
            throw new ConfigException("cannot read trace " + file + ": " + e.getMessage(), e);
        }
        if (rows.isEmpty()) {
            throw new ConfigException("trace " + file + " has no rows");
        }
        return rows;
    }

    static TraceRecord parse(String line, int fileBlockTokens, String where) {
        JsonNode row;
        try {
            row = JSON.readTree(line);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new ConfigException(where + ": not JSON: " + e.getOriginalMessage());
        }
        if (row == null || !row.isObject()) {
            throw new ConfigException(where + ": expected a JSON object");
        }
        long timestamp = integer(row, "timestamp", where);
        long input = integer(row, "input_length", where);
        long output = integer(row, "output_length", where);
        JsonNode ids = row.get("hash_ids");
        if (ids == null || !ids.isArray() || ids.isEmpty()) {
            throw new ConfigException(where + ": 'hash_ids' must be a non-empty array");
        }
        List<Long> hashIds = new ArrayList<>(ids.size());
        for (JsonNode id : ids) {
            if (!id.canConvertToLong() || !id.isIntegralNumber() || id.asLong() < 0) {
                throw new ConfigException(where + ": hash id " + id + " is not a non-negative integer");
            }
            hashIds.add(id.asLong());
        }
        long maxTokens = (long) hashIds.size() * fileBlockTokens;
        if (timestamp < 0 || input < 1 || output < 1 || input > maxTokens || input <= maxTokens - fileBlockTokens) {
            throw new ConfigException(where + ": timestamp " + timestamp + ", input_length " + input + ", output_length "
                    + output + " do not fit " + hashIds.size() + " blocks of " + fileBlockTokens + " tokens");
        }
        return new TraceRecord(timestamp, (int) input, (int) Math.min(output, Integer.MAX_VALUE), hashIds);
    }

    private static long integer(JsonNode row, String field, String where) {
        JsonNode v = row.get(field);
        if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
            throw new ConfigException(where + ": '" + field + "' must be an integer, got " + v);
        }
        return v.asLong();
    }
}
