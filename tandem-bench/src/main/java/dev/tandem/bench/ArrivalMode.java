package dev.tandem.bench;

import dev.tandem.core.ConfigException;

/** When requests are sent; see {@link LoadRunner} for how each mode interacts with conversations. */
public sealed interface ArrivalMode permits ArrivalMode.Concurrency, ArrivalMode.Rate, ArrivalMode.TraceTime {

    /** Short label for reports: {@code c=8}, {@code rate=2.0/s}, {@code poisson=2.0/s}, {@code trace x10}. */
    String label();

    /** A closed loop: {@code clients} requests in flight at all times (while there are ready requests). */
    record Concurrency(int clients) implements ArrivalMode {
        public Concurrency {
            if (clients < 1) {
                throw new ConfigException("--concurrency must be >= 1, got " + clients);
            }
        }

        @Override
        public String label() {
            return "c=" + clients;
        }
    }

    /**
     * An open loop: arrivals at {@code perSecond} on average, evenly spaced or with exponential
     * gaps (a Poisson process), whatever the number in flight.
     */
    record Rate(double perSecond, boolean poisson) implements ArrivalMode {
        public Rate {
            if (!(perSecond > 0) || Double.isInfinite(perSecond)) {
                throw new ConfigException("--rate must be a positive number, got " + perSecond);
            }
        }

        @Override
        public String label() {
            return (poisson ? "poisson=" : "rate=") + perSecond + "/s";
        }
    }

    /** An open loop at the trace's own timestamps divided by {@code speedup}. */
    record TraceTime(double speedup) implements ArrivalMode {
        public TraceTime {
            if (!(speedup > 0) || Double.isInfinite(speedup)) {
                throw new ConfigException("--speedup must be a positive number, got " + speedup);
            }
        }

        @Override
        public String label() {
            return "trace x" + speedup;
        }
    }
}
