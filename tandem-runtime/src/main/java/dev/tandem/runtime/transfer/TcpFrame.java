package dev.tandem.runtime.transfer;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Wire layout of the TCP KV transfer protocol, version 1. All integers little-endian, no
 * alignment padding beyond what is shown.
 *
 * <pre>
 * Every frame: a 16-byte header, then bodyBytes bytes of body.
 *
 *  0          2         3        4              8                        16
 *  | magic u16 | version u8 | type u8 | requestId u32 | bodyBytes u64 |  body ...
 *    0x4B54                                               (control bodies <= 4096)
 *
 * HELLO     (type 1, puller -> server, first frame on a connection)    body 20 bytes
 *  | blockSizeTokens u32 | layerCount u32 | kvHeadCount u32 | headDim u32 | dtype u8 | pad u8[3] |
 *   the puller's destination layout; the server answers HELLO_OK if it equals its pool's
 *   layout, else ERROR(LAYOUT_MISMATCH) and closes: no block byte moves before layouts agree.
 *
 * HELLO_OK  (type 2, server -> puller)                                  body 24 bytes
 *  | layout as in HELLO (20 bytes) | blockCount u32 |
 *
 * READ      (type 3, puller -> server; many may be in flight)           body 16 bytes
 *  | handleId u64 | firstBlock u32 | blockCount u32 |
 *
 * DATA      (type 4, server -> puller, answers one READ, in order)      body blockCount * blockBytes
 *  | the blocks firstBlock .. firstBlock+blockCount-1 of the pool, verbatim |
 *   requestId echoes the READ's; the puller reads the body straight into its destination blocks.
 *
 * ERROR     (type 5, server -> puller, answers a READ or HELLO)        body 2 + n bytes
 *  | code u16 | message UTF-8 (n bytes) |
 *   codes: 1 layout mismatch, 2 blocks out of range, 3 not pinned, 4 protocol error, 5 internal.
 * </pre>
 *
 * <p>Decoding: a wrong magic or version, an unknown type code, or a body length that a type
 * cannot have is a {@link ProtocolException}; there is no {@code Unknown} record, because the
 * version byte already separates protocol generations and within one an unknown type can only
 * be corruption. The receiver of a bad frame closes the connection (the server answers
 * ERROR(protocol) first).
 */
final class TcpFrame {
    static final short MAGIC = 0x4B54;
    static final byte VERSION = 1;

    static final int MAGIC_OFFSET = 0;
    static final int VERSION_OFFSET = MAGIC_OFFSET + Short.BYTES;
    static final int TYPE_OFFSET = VERSION_OFFSET + Byte.BYTES;
    static final int REQUEST_ID_OFFSET = TYPE_OFFSET + Byte.BYTES;
    static final int BODY_BYTES_OFFSET = REQUEST_ID_OFFSET + Integer.BYTES;
    static final int HEADER_BYTES = BODY_BYTES_OFFSET + Long.BYTES;

    static final byte HELLO = 1;
    static final byte HELLO_OK = 2;
    static final byte READ = 3;
    static final byte DATA = 4;
    static final byte ERROR = 5;

    // HELLO body (HELLO_OK adds blockCount)
    static final int LAYOUT_BLOCK_SIZE_OFFSET = 0;
    static final int LAYOUT_LAYERS_OFFSET = LAYOUT_BLOCK_SIZE_OFFSET + Integer.BYTES;
    static final int LAYOUT_KV_HEADS_OFFSET = LAYOUT_LAYERS_OFFSET + Integer.BYTES;
    static final int LAYOUT_HEAD_DIM_OFFSET = LAYOUT_KV_HEADS_OFFSET + Integer.BYTES;
    static final int LAYOUT_DTYPE_OFFSET = LAYOUT_HEAD_DIM_OFFSET + Integer.BYTES;
    static final int HELLO_BODY_BYTES = LAYOUT_DTYPE_OFFSET + 4;
    static final int HELLO_OK_BLOCK_COUNT_OFFSET = HELLO_BODY_BYTES;
    static final int HELLO_OK_BODY_BYTES = HELLO_OK_BLOCK_COUNT_OFFSET + Integer.BYTES;

    // READ body
    static final int READ_HANDLE_OFFSET = 0;
    static final int READ_FIRST_BLOCK_OFFSET = READ_HANDLE_OFFSET + Long.BYTES;
    static final int READ_BLOCK_COUNT_OFFSET = READ_FIRST_BLOCK_OFFSET + Integer.BYTES;
    static final int READ_BODY_BYTES = READ_BLOCK_COUNT_OFFSET + Integer.BYTES;
    static final int READ_FRAME_BYTES = HEADER_BYTES + READ_BODY_BYTES;

    // ERROR body
    static final int ERROR_CODE_OFFSET = 0;
    static final int ERROR_MESSAGE_OFFSET = ERROR_CODE_OFFSET + Short.BYTES;

    static final int MAX_CONTROL_BODY_BYTES = 4096;

    static final short ERR_LAYOUT_MISMATCH = 1;
    static final short ERR_OUT_OF_RANGE = 2;
    static final short ERR_NOT_PINNED = 3;
    static final short ERR_PROTOCOL = 4;
    static final short ERR_INTERNAL = 5;

    private TcpFrame() {
    }

    /** A header as read from the wire, validated. */
    record Header(byte type, int requestId, long bodyBytes) {
    }

    /** A little-endian buffer for control frames. */
    static ByteBuffer allocate(int bytes) {
        return ByteBuffer.allocateDirect(bytes).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Writes a header at the buffer's position and advances it. */
    static void putHeader(ByteBuffer buf, byte type, int requestId, long bodyBytes) {
        buf.putShort(MAGIC).put(VERSION).put(type).putInt(requestId).putLong(bodyBytes);
    }

    /**
     * Decodes and validates the {@link #HEADER_BYTES} bytes from the buffer's position (little-endian).
     *
     * @param expectServer true when the header is read by the server (puller frames expected)
     */
    static Header decodeHeader(ByteBuffer buf, boolean expectServer) {
        int base = buf.position();
        short magic = buf.getShort(base + MAGIC_OFFSET);
        if (magic != MAGIC) {
            throw new ProtocolException(String.format("bad frame magic 0x%04x (expected 0x%04x)", magic & 0xffff, MAGIC));
        }
        byte version = buf.get(base + VERSION_OFFSET);
        if (version != VERSION) {
            throw new ProtocolException("unsupported KV transfer protocol version " + (version & 0xff)
                    + " (this side speaks " + VERSION + ")");
        }
        byte type = buf.get(base + TYPE_OFFSET);
        int requestId = buf.getInt(base + REQUEST_ID_OFFSET);
        long bodyBytes = buf.getLong(base + BODY_BYTES_OFFSET);
        boolean known = expectServer ? (type == HELLO || type == READ)
                : (type == HELLO_OK || type == DATA || type == ERROR);
        if (!known) {
            throw new ProtocolException("unexpected frame type " + type + " at the " + (expectServer ? "server" : "puller"));
        }
        long expected = switch (type) {
            case HELLO -> HELLO_BODY_BYTES;
            case HELLO_OK -> HELLO_OK_BODY_BYTES;
            case READ -> READ_BODY_BYTES;
            default -> -1;
        };
        if (expected >= 0 && bodyBytes != expected) {
            throw new ProtocolException("frame type " + type + " has a " + bodyBytes + "-byte body, expected " + expected);
        }
        if (type == ERROR && (bodyBytes < ERROR_MESSAGE_OFFSET || bodyBytes > MAX_CONTROL_BODY_BYTES)) {
            throw new ProtocolException("ERROR frame has a " + bodyBytes + "-byte body");
        }
        if (bodyBytes < 0) {
            throw new ProtocolException("negative body length " + bodyBytes);
        }
        return new Header(type, requestId, bodyBytes);
    }

    static void putLayout(ByteBuffer buf, KvLayout layout) {
        buf.putInt(layout.blockSizeTokens()).putInt(layout.layerCount()).putInt(layout.kvHeadCount())
                .putInt(layout.headDim()).put((byte) layout.dtype().ordinal()).put((byte) 0).putShort((short) 0);
    }

    /** Decodes a layout at the buffer's position (absolute reads). */
    static KvLayout getLayout(ByteBuffer buf) {
        int base = buf.position();
        int dtype = buf.get(base + LAYOUT_DTYPE_OFFSET);
        if (dtype < 0 || dtype >= KvDtype.values().length) {
            throw new ProtocolException("unknown KV dtype code " + dtype);
        }
        try {
            return new KvLayout(buf.getInt(base + LAYOUT_BLOCK_SIZE_OFFSET), buf.getInt(base + LAYOUT_LAYERS_OFFSET),
                    buf.getInt(base + LAYOUT_KV_HEADS_OFFSET), buf.getInt(base + LAYOUT_HEAD_DIM_OFFSET),
                    KvDtype.values()[dtype]);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("bad layout in frame: " + e.getMessage(), e);
        }
    }

    static void putError(ByteBuffer buf, int requestId, short code, String message) {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        int n = Math.min(text.length, MAX_CONTROL_BODY_BYTES - ERROR_MESSAGE_OFFSET);
        putHeader(buf, ERROR, requestId, ERROR_MESSAGE_OFFSET + n);
        buf.putShort(code).put(text, 0, n);
    }
}
