package dev.tandem.engine.mock;

import dev.tandem.core.ConfigException;
import dev.tandem.engine.EngineConfig;

/**
 * Settings of a mock (simulated) engine.
 *
 * @param modelName     name reported in {@code EngineInfo}
 * @param engine        the same batching and KV settings as a real engine; {@code kvBlocks} must be
 *                      set (the mock has no per-token K/V size to derive it from)
 * @param vocabSize     width of the mock's logits, 2..1,048,576; prompts may use any id &gt;= 0
 * @param contextLength most positions per sequence, &gt;= 2
 * @param timing        step durations
 * @param seed          varies the mock's pseudo tokens
 */
public record MockConfig(String modelName, EngineConfig engine, int vocabSize, int contextLength, TimingProfile timing,
                         long seed) {
    /** Dynamo's mocker default pool: 16,384 blocks. */
    public static final int DEFAULT_KV_BLOCKS = 16_384;
    public static final int DEFAULT_VOCAB_SIZE = 1024;
    public static final int DEFAULT_CONTEXT_LENGTH = 131_072;

    public static final MockConfig DEFAULT = new MockConfig("mock", EngineConfig.DEFAULT.withKvBlocks(DEFAULT_KV_BLOCKS),
            DEFAULT_VOCAB_SIZE, DEFAULT_CONTEXT_LENGTH, TimingProfile.DYNAMO, 0L);

    public MockConfig {
        if (modelName == null || modelName.isBlank()) {
            throw new ConfigException("mock model name is missing");
        }
        if (engine.kvBlocks() <= 0) {
            throw new ConfigException("a mock engine needs an explicit KV block count (--kv-blocks)");
        }
        if (vocabSize < 2 || vocabSize > 1 << 20) {
            throw new ConfigException("mock vocabulary size must be in [2, 1048576], got " + vocabSize);
        }
        if (contextLength < 2) {
            throw new ConfigException("mock context length must be >= 2, got " + contextLength);
        }
        if (timing == null) {
            throw new ConfigException("mock timing profile is missing");
        }
    }

    public MockConfig withModelName(String v) {
        return new MockConfig(v, engine, vocabSize, contextLength, timing, seed);
    }

    public MockConfig withEngine(EngineConfig v) {
        return new MockConfig(modelName, v, vocabSize, contextLength, timing, seed);
    }

    public MockConfig withVocabSize(int v) {
        return new MockConfig(modelName, engine, v, contextLength, timing, seed);
    }

    public MockConfig withContextLength(int v) {
        return new MockConfig(modelName, engine, vocabSize, v, timing, seed);
    }

    public MockConfig withTiming(TimingProfile v) {
        return new MockConfig(modelName, engine, vocabSize, contextLength, v, seed);
    }

    public MockConfig withSeed(long v) {
        return new MockConfig(modelName, engine, vocabSize, contextLength, timing, v);
    }
}
