package dev.tandem.runtime.registry;

import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import java.util.Locale;

/**
 * The registry's key layout:
 * <pre>
 * tandem/v1/instances/{namespace}/{component}/{instanceId}
 * </pre>
 * where {@code component} is the worker role in lower case ({@code aggregated}, {@code prefill},
 * {@code decode}). A watch on {@link #instancesPrefix(String)} sees every worker of a namespace;
 * one on {@link #componentPrefix(String, WorkerRole)} only one role.
 */
public final class RegistryKeys {
    /** Root of every Tandem key; the version segment changes only with an incompatible layout. */
    public static final String ROOT = "tandem/v1/instances/";

    private RegistryKeys() {
    }

    public static String instancesPrefix(String namespace) {
        checkSegment("namespace", namespace);
        return ROOT + namespace + "/";
    }

    public static String componentPrefix(String namespace, WorkerRole role) {
        return instancesPrefix(namespace) + component(role) + "/";
    }

    public static String instanceKey(String namespace, WorkerRecord record) {
        return componentPrefix(namespace, record.role()) + record.instanceId();
    }

    public static String component(WorkerRole role) {
        return role.name().toLowerCase(Locale.ROOT);
    }

    static void checkSegment(String what, String value) {
        if (value == null || !WorkerRecord.ID_PATTERN.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " '" + value + "' must be 1..128 letters, digits, '_' or '-'");
        }
    }
}
