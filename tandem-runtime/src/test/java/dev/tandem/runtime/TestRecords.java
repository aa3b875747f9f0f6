package dev.tandem.runtime;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.WorkerRecord;
import dev.tandem.core.WorkerRole;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import java.util.List;

/** Worker records for tests. */
public final class TestRecords {
    private TestRecords() {
    }

    public static WorkerRecord worker(String id, String model, int blockSize) {
        return new WorkerRecord(id, WorkerRole.AGGREGATED, model, "127.0.0.1:7000",
                new KvLayout(blockSize, 2, 2, 16, KvDtype.F32), 128, 256, List.of(new TransferEndpoint(TransferKind.TCP, "", "127.0.0.1:7100")), "host-a");
    }

    public static WorkerRecord worker(String id) {
        return worker(id, "tiny", 16);
    }
}
