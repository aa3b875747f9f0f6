package dev.tandem.runtime.http;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import org.junit.jupiter.api.Test;

class StreamingHttpLinesTest {

    /** Serves its pieces one read at a time; a read past the last piece is a read that would block. */
    private static final class Pieces extends InputStream {
        private final Deque<byte[]> pieces = new ArrayDeque<>();
        boolean eofAfter;
        int reads;

        Pieces(String... parts) {
            for (String p : parts) {
                pieces.add(p.getBytes(StandardCharsets.UTF_8));
            }
        }

        @Override
        public int read() {
            throw new UnsupportedOperationException();
        }

        @Override
        public int read(byte[] b, int off, int len) {
            reads++;
            byte[] p = pieces.poll();
            if (p == null) {
                if (eofAfter) {
                    return -1;
                }
                throw new AssertionError("read past the data that has arrived: this read would block");
            }
            int n = Math.min(len, p.length);
            System.arraycopy(p, 0, b, off, n);
            if (n < p.length) {
                byte[] rest = new byte[p.length - n];
                System.arraycopy(p, n, rest, 0, rest.length);
                pieces.addFirst(rest);
            }
            return n;
        }
    }

    @Test
    void next_completeLine_returnedWithoutWaitingForMore() throws IOException {
        Pieces in = new Pieces("data: {\"a\":1}\n", "\n");
        StreamingHttp.Lines lines = new StreamingHttp.Lines(in);

        assertThat(lines.next()).isEqualTo("data: {\"a\":1}");
        assertThat(in.reads).isEqualTo(1);
        assertThat(lines.next()).isEmpty();
    }

    @Test
    void next_linesSplitAcrossReads_crlfAndLf_andALastLineWithoutEnd() throws IOException {
        Pieces in = new Pieces("da", "ta: x\r", "\ny\n\nz\u00e9", "\u00e8 end");
        in.eofAfter = true;
        StreamingHttp.Lines lines = new StreamingHttp.Lines(in);
        List<String> all = new ArrayList<>();
        for (String l = lines.next(); l != null; l = lines.next()) {
            all.add(l);
        }

        assertThat(all).containsExactly("data: x", "y", "", "z\u00e9\u00e8 end");
        assertThat(lines.next()).isNull();
    }

    @Test
    void next_multiByteCharacterSplitBetweenReads_decodedWhole() throws IOException {
        byte[] e = "\u20ac\n".getBytes(StandardCharsets.UTF_8); // three bytes and LF
        Pieces in = new Pieces();
        in.pieces.add(new byte[] {e[0]});
        in.pieces.add(new byte[] {e[1], e[2], e[3]});
        StreamingHttp.Lines lines = new StreamingHttp.Lines(in);

        assertThat(lines.next()).isEqualTo("\u20ac");
    }

    @Test
    void next_lineLongerThanTheBuffer_grows_andAnEndlessLineIsRefused() throws IOException {
        String longLine = "x".repeat(100_000);
        StreamingHttp.Lines lines = new StreamingHttp.Lines(new ByteArrayInputStream((longLine + "\nok\n")
                .getBytes(StandardCharsets.US_ASCII)));
        assertThat(lines.next()).isEqualTo(longLine);
        assertThat(lines.next()).isEqualTo("ok");

        InputStream endless = new InputStream() {
            @Override
            public int read() {
                return 'x';
            }
        };
        assertThatThrownBy(() -> new StreamingHttp.Lines(endless).next()).isInstanceOf(IOException.class)
                .hasMessageContaining("longer than");
    }

    @Test
    void text_boundedAndJoined() throws IOException {
        StreamingHttp.Lines lines = new StreamingHttp.Lines(new ByteArrayInputStream("ab\ncd\nef\n"
                .getBytes(StandardCharsets.US_ASCII)));
        assertThat(lines.text(4)).isEqualTo("ab\ncd".substring(0, 4));
    }
}
