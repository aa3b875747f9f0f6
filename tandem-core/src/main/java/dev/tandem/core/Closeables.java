package dev.tandem.core;

/** Closing in shutdown paths, where one part that fails to close must not stop the others. */
public final class Closeables {
    private Closeables() {
    }

    /** Closes {@code c} (null: nothing); a failure is logged as a warning on {@code log} and not thrown. */
    public static void closeQuietly(AutoCloseable c, System.Logger log) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (Exception e) {
            log.log(System.Logger.Level.WARNING, "closing " + c.getClass().getSimpleName() + " failed", e);
        }
    }
}
