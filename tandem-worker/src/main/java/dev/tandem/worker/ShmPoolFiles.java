package dev.tandem.worker;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

import static java.lang.System.Logger.Level.INFO;
import static java.lang.System.Logger.Level.WARNING;

/**
 * Ownership of the KV pool files workers keep under {@code /dev/shm}, so that a worker that was
 * killed does not leak its pool (a tmpfs file is memory until someone deletes it).
 *
 * <h2>Design</h2>
 * Next to {@code tandem-kv-ID.pool} a worker keeps {@code tandem-kv-ID.pool.lock} and holds an
 * exclusive lock on it for its whole life. The kernel drops the lock when the process dies, however
 * it dies. A worker starting on the same host sweeps the directory: a lock file it can lock
 * belongs to a dead worker, whose pool, layout file and lock file it deletes.
 * <p>
 * POSIX record locks belong to the process, and closing any descriptor of the file drops them.
 * So a lock file is opened only once in its owner's JVM: the sweep skips the lock files this JVM
 * holds ({@link #HELD}) without opening them, and a second acquire in the same JVM fails first.
 *
 * <h2>Concurrency</h2>
 * {@link #sweep} and {@link #acquire} may run in several processes at once: a sweep that locks a
 * file in the instant between another worker creating and locking it deletes a lock file that
 * worker then holds unlinked; its pool is then not swept after a crash. That costs one leak in a
 * rare race, never a live pool.
 */
final class ShmPoolFiles {
    private static final System.Logger LOG = System.getLogger(ShmPoolFiles.class.getName());
    static final String LOCK_SUFFIX = ".lock";
    /** Lock files this JVM holds (absolute paths); never opened again while held. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    private ShmPoolFiles() {
    }

    /** The lock file of a pool file. */
    static Path lockFile(Path poolFile) {
        return poolFile.resolveSibling(poolFile.getFileName() + LOCK_SUFFIX);
    }

    /**
     * Creates and locks {@code poolFile}'s lock file; the returned lock lives until closed (on
     * shutdown) or until the process dies.
     */
    static FileLock acquire(Path poolFile) {
        Path lockFile = lockFile(poolFile).toAbsolutePath();
        if (!HELD.add(lockFile)) {
            throw inUse(poolFile);
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock lock = ch.tryLock();
            if (lock == null) {
                ch.close();
                HELD.remove(lockFile);
                throw inUse(poolFile);
            }
            return lock;
        } catch (IOException e) {
            closeQuietly(ch);
            HELD.remove(lockFile);
            throw new IllegalStateException("cannot lock " + lockFile + ": " + e.getMessage(), e);
        }
    }

    private static IllegalStateException inUse(Path poolFile) {
        return new IllegalStateException("KV pool " + poolFile + " is in use by another running worker "
                + "(instance ids must be unique)");
    }

    /** Releases the lock and deletes the lock file (the engine deletes the pool file itself). */
    static void release(FileLock lock, Path poolFile) {
        if (lock == null) {
            return;
        }
        Path lockFile = lockFile(poolFile).toAbsolutePath();
        try {
            Files.deleteIfExists(lockFile);
        } catch (IOException e) {
            LOG.log(WARNING, "cannot delete " + lockFile + ": " + e.getMessage());
        }
        closeQuietly(lock.channel());
        HELD.remove(lockFile);
    }

    /** Deletes the pools in {@code dir} whose owners have died; returns how many were removed. */
    static int sweep(Path dir) {
        int removed = 0;
        try (DirectoryStream<Path> locks = Files.newDirectoryStream(dir, "tandem-kv-*.pool" + LOCK_SUFFIX)) {
            for (Path lockFile : locks) {
                if (removeIfOrphaned(lockFile)) {
                    removed++;
                }
            }
        } catch (IOException | RuntimeException e) {
            LOG.log(WARNING, "cannot sweep stale KV pools in " + dir + ": " + e.getMessage());
        }
        return removed;
    }

    private static boolean removeIfOrphaned(Path lockFile) {
        if (HELD.contains(lockFile.toAbsolutePath())) {
            return false; // ours: opening it again would drop our own lock
        }
        String name = lockFile.getFileName().toString();
        Path pool = lockFile.resolveSibling(name.substring(0, name.length() - LOCK_SUFFIX.length()));
        try (FileChannel ch = FileChannel.open(lockFile, StandardOpenOption.WRITE)) {
            FileLock lock = ch.tryLock();
            if (lock == null) {
                return false; // its worker is alive
            }
            Files.deleteIfExists(pool);
            Files.deleteIfExists(pool.resolveSibling(pool.getFileName() + ".kvlayout"));
            Files.deleteIfExists(lockFile);
            LOG.log(INFO, "removed the KV pool {0} of a worker that is no longer running", pool);
            return true;
        } catch (IOException | java.nio.channels.OverlappingFileLockException e) {
            return false; // unreadable, or another thread of this JVM is sweeping it now
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        if (c != null) {
            try {
                c.close();
            } catch (Exception ignored) {
                // nothing more to release
            }
        }
    }
}
