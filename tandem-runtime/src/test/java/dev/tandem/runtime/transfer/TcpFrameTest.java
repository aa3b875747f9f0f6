package dev.tandem.runtime.transfer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.tandem.core.KvDtype;
import dev.tandem.core.KvLayout;
import dev.tandem.core.ProtocolException;
import java.nio.ByteBuffer;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class TcpFrameTest {
    @Test
    void header_roundTrip_fieldsAtDocumentedOffsets() {
        ByteBuffer b = TcpFrame.allocate(TcpFrame.HEADER_BYTES);
        TcpFrame.putHeader(b, TcpFrame.DATA, 0x01020304, 0x0A0B0C0D0EL);
        b.flip();
        assertThat(b.remaining()).isEqualTo(16);
        assertThat(b.get(0)).isEqualTo((byte) 0x54); // magic little-endian: 'T' then 'K'
        assertThat(b.get(1)).isEqualTo((byte) 0x4B);
        assertThat(b.get(2)).isEqualTo(TcpFrame.VERSION);
        assertThat(b.get(3)).isEqualTo(TcpFrame.DATA);
        assertThat(b.get(4)).isEqualTo((byte) 0x04);
        assertThat(b.get(8)).isEqualTo((byte) 0x0E);
        TcpFrame.Header h = TcpFrame.decodeHeader(b, false);
        assertThat(h).isEqualTo(new TcpFrame.Header(TcpFrame.DATA, 0x01020304, 0x0A0B0C0D0EL));
    }

    @Test
    void layout_roundTrip() {
        KvLayout layout = new KvLayout(16, 22, 4, 64, KvDtype.F16);
        ByteBuffer b = TcpFrame.allocate(TcpFrame.HELLO_BODY_BYTES);
        TcpFrame.putLayout(b, layout);
        assertThat(b.position()).isEqualTo(TcpFrame.HELLO_BODY_BYTES);
        b.flip();
        assertThat(TcpFrame.getLayout(b)).isEqualTo(layout);
    }

    @Test
    void decode_badMagic_protocolException() {
        ByteBuffer b = TcpFrame.allocate(16);
        b.putShort((short) 0x1234).put(TcpFrame.VERSION).put(TcpFrame.DATA).putInt(0).putLong(0).flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(b, false)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("bad frame magic 0x1234");
    }

    @Test
    void decode_otherVersion_protocolExceptionNamingVersions() {
        ByteBuffer b = TcpFrame.allocate(16);
        b.putShort(TcpFrame.MAGIC).put((byte) 2).put(TcpFrame.DATA).putInt(0).putLong(0).flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(b, false)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("version 2").hasMessageContaining("speaks 1");
    }

    @Test
    void decode_unknownOrMisdirectedType_protocolException() {
        ByteBuffer b = TcpFrame.allocate(16);
        TcpFrame.putHeader(b, (byte) 9, 0, 0);
        b.flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(b, false)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("unexpected frame type 9");
        ByteBuffer data = TcpFrame.allocate(16);
        TcpFrame.putHeader(data, TcpFrame.DATA, 0, 10);
        data.flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(data, true)).isInstanceOf(ProtocolException.class);
    }

    @Test
    void decode_wrongControlBodyLength_protocolException() {
        ByteBuffer b = TcpFrame.allocate(16);
        TcpFrame.putHeader(b, TcpFrame.READ, 0, 17);
        b.flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(b, true)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("17-byte body, expected 16");
        ByteBuffer e = TcpFrame.allocate(16);
        TcpFrame.putHeader(e, TcpFrame.ERROR, 0, 1 << 20);
        e.flip();
        assertThatThrownBy(() -> TcpFrame.decodeHeader(e, false)).isInstanceOf(ProtocolException.class);
    }

    @Test
    void getLayout_badDtypeOrZeroField_protocolException() {
        ByteBuffer b = TcpFrame.allocate(TcpFrame.HELLO_BODY_BYTES);
        TcpFrame.putLayout(b, new KvLayout(16, 22, 4, 64, KvDtype.F16));
        b.put(TcpFrame.LAYOUT_DTYPE_OFFSET, (byte) 7).flip();
        assertThatThrownBy(() -> TcpFrame.getLayout(b)).isInstanceOf(ProtocolException.class)
                .hasMessageContaining("dtype code 7");
        b.put(TcpFrame.LAYOUT_DTYPE_OFFSET, (byte) 0).putInt(TcpFrame.LAYOUT_LAYERS_OFFSET, 0);
        assertThatThrownBy(() -> TcpFrame.getLayout(b)).isInstanceOf(ProtocolException.class);
    }

    /** Random 16-byte headers either decode to a valid header or throw ProtocolException, nothing else. */
    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3})
    void decode_randomBytes_onlyProtocolException(long seed) {
        SplittableRandom random = new SplittableRandom(seed);
        for (int i = 0; i < 2_000; i++) {
            ByteBuffer b = TcpFrame.allocate(16);
            for (int k = 0; k < 16; k++) {
                b.put((byte) random.nextInt(256));
            }
            if (random.nextBoolean()) {
                b.putShort(0, TcpFrame.MAGIC).put(2, TcpFrame.VERSION);
            }
            b.flip();
            try {
                TcpFrame.Header h = TcpFrame.decodeHeader(b, random.nextBoolean());
                assertThat(h.bodyBytes()).as("seed %d", seed).isNotNegative();
            } catch (ProtocolException expected) {
                assertThat(expected.getMessage()).isNotBlank();
            }
        }
    }
}
