package dev.tandem.runtime.transfer;

import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import java.nio.ByteBuffer;

/**
 * Control messages of the UCX transport, sent as UCX tagged messages (the block bytes move by
 * one-sided RMA GET and have no framing). Little-endian; the tag says which message it is.
 *
 * <pre>
 * META   (tag TAG_META, server -> puller, once per connection)
 *  0            8                28            32              40           44
 *  | connId u64 | layout 20 bytes | blockCount u32 | baseAddress u64 | rkeyBytes u32 | rkey ... |
 *   layout as in {@link TcpFrame} HELLO: blockSize u32, layers u32, kvHeads u32, headDim u32, dtype u8, pad u8[3]
 *
 * AUTH   (tag TAG_AUTH, puller -> server, before each pull's GETs)
 *  0            8         16            24              28         32
 *  | connId u64 | seq u64 | handleId u64 | runCount u32 | pad u32 | (firstBlock u32, blockCount u32) * runCount |
 *
 * REPLY  (tag TAG_REPLY, server -> puller, answers one AUTH)
 *  0         8          10
 *  | seq u64 | code u16 | message UTF-8 ... |      code 0 = granted, else as TcpFrame's ERROR codes
 * </pre>
 * A message shorter than its fixed part, or with counts that overrun it, is a {@link ProtocolException}.
 */
final class UcxFrame {
    static final long TAG_META = 0x4B56_0000_0000_0001L;
    static final long TAG_AUTH = 0x4B56_0000_0000_0002L;
    static final long TAG_REPLY = 0x4B56_0000_0000_0003L;
    static final long TAG_MASK_ALL = -1L;

    static final int META_CONN_OFFSET = 0;
    static final int META_LAYOUT_OFFSET = META_CONN_OFFSET + Long.BYTES;
    static final int META_BLOCK_COUNT_OFFSET = META_LAYOUT_OFFSET + TcpFrame.HELLO_BODY_BYTES;
    static final int META_BASE_OFFSET = META_BLOCK_COUNT_OFFSET + Integer.BYTES;
    static final int META_RKEY_BYTES_OFFSET = META_BASE_OFFSET + Long.BYTES;
    static final int META_RKEY_OFFSET = META_RKEY_BYTES_OFFSET + Integer.BYTES;

    static final int AUTH_CONN_OFFSET = 0;
    static final int AUTH_SEQ_OFFSET = AUTH_CONN_OFFSET + Long.BYTES;
    static final int AUTH_HANDLE_OFFSET = AUTH_SEQ_OFFSET + Long.BYTES;
    static final int AUTH_RUN_COUNT_OFFSET = AUTH_HANDLE_OFFSET + Long.BYTES;
    static final int AUTH_RUNS_OFFSET = AUTH_RUN_COUNT_OFFSET + 2 * Integer.BYTES;
    static final int AUTH_RUN_BYTES = 2 * Integer.BYTES;

    static final int REPLY_SEQ_OFFSET = 0;
    static final int REPLY_CODE_OFFSET = REPLY_SEQ_OFFSET + Long.BYTES;
    static final int REPLY_MESSAGE_OFFSET = REPLY_CODE_OFFSET + Short.BYTES;

    /** Largest control message either side receives (bounds AUTH to 8,000-odd runs). */
    static final int MAX_MESSAGE_BYTES = 64 << 10;

    private UcxFrame() {
    }

    /** Decoded META. */
    record Meta(long connId, KvLayout layout, int blockCount, long baseAddress, ByteBuffer rkey) {
    }

    static Meta decodeMeta(ByteBuffer b, int length) {
        if (length < META_RKEY_OFFSET) {
            throw new ProtocolException("UCX META of " + length + " bytes, need at least " + META_RKEY_OFFSET);
        }
        int rkeyBytes = b.getInt(META_RKEY_BYTES_OFFSET);
        if (rkeyBytes <= 0 || META_RKEY_OFFSET + (long) rkeyBytes > length) {
            throw new ProtocolException("UCX META remote key of " + rkeyBytes + " bytes overruns a " + length + "-byte message");
        }
        KvLayout layout = TcpFrame.getLayout(b.duplicate().order(b.order()).position(META_LAYOUT_OFFSET));
        ByteBuffer rkey = ByteBuffer.allocateDirect(rkeyBytes);
        rkey.put(b.duplicate().position(META_RKEY_OFFSET).limit(META_RKEY_OFFSET + rkeyBytes)).flip();
        return new Meta(b.getLong(META_CONN_OFFSET), layout, b.getInt(META_BLOCK_COUNT_OFFSET),
                b.getLong(META_BASE_OFFSET), rkey);
    }
}
