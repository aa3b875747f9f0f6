package dev.tandem.bench;

import dev.tandem.core.ConfigException;
import java.util.Locale;
import java.util.SplittableRandom;

/** A distribution of token counts for the random workload; every sample is &gt;= 1. */
public sealed interface LengthDistribution
        permits LengthDistribution.Fixed, LengthDistribution.Uniform, LengthDistribution.Normal {

    int sample(SplittableRandom random);

    /** Always {@code tokens}. */
    record Fixed(int tokens) implements LengthDistribution {
        public Fixed {
            if (tokens < 1) {
                throw new ConfigException("a length must be >= 1, got " + tokens);
            }
        }

        @Override
        public int sample(SplittableRandom random) {
            return tokens;
        }

        @Override
        public String toString() {
            return Integer.toString(tokens);
        }
    }

    /** Uniform over {@code [min, max]}, both included. */
    record Uniform(int min, int max) implements LengthDistribution {
        public Uniform {
            if (min < 1 || max < min) {
                throw new ConfigException("a length range needs 1 <= min <= max, got " + min + ".." + max);
            }
        }

        @Override
        public int sample(SplittableRandom random) {
            return min + random.nextInt(max - min + 1);
        }

        @Override
        public String toString() {
            return min + ".." + max;
        }
    }

    /** Normal with the given mean and standard deviation, rounded, and clamped to {@code >= 1}. */
    record Normal(double mean, double stddev) implements LengthDistribution {
        public Normal {
            if (!(mean >= 1) || !(stddev >= 0) || Double.isInfinite(mean) || Double.isInfinite(stddev)) {
                throw new ConfigException("normal lengths need mean >= 1 and stddev >= 0, got " + mean + ", " + stddev);
            }
        }

        @Override
        public int sample(SplittableRandom random) {
            // Box-Muller; two uniforms per sample keeps the stream position independent of history
            double u1 = 1.0 - random.nextDouble();
            double u2 = random.nextDouble();
            double z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
            return (int) Math.max(1, Math.min(Integer.MAX_VALUE, Math.round(mean + stddev * z)));
        }

        @Override
        public String toString() {
            return "normal:" + mean + ":" + stddev;
        }
    }

    /** Parses {@code N}, {@code MIN..MAX} or {@code normal:MEAN:STDDEV}. */
    public static LengthDistribution parse(String option, String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        try {
            if (t.startsWith("normal:")) {
                String[] p = t.split(":");
                if (p.length != 3) {
                    throw new ConfigException("'" + text + "' is not normal:MEAN:STDDEV");
                }
                return new Normal(Double.parseDouble(p[1]), Double.parseDouble(p[2]));
            }
            int range = t.indexOf("..");
            if (range >= 0) {
                return new Uniform(Integer.parseInt(t.substring(0, range)), Integer.parseInt(t.substring(range + 2)));
            }
            return new Fixed(Integer.parseInt(t));
        } catch (NumberFormatException e) {
            throw new ConfigException(option + " '" + text + "' is not N, MIN..MAX or normal:MEAN:STDDEV");
        } catch (ConfigException e) {
            throw new ConfigException(option + ": " + e.getMessage());
        }
    }
}
