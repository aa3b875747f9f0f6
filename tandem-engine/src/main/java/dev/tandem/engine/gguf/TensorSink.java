package dev.tandem.engine.gguf;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;

/**
 * Where {@link GgufWriter.TensorData} writes one tensor's bytes, in order. Bytes pass through a
 * fixed direct staging buffer to the file, so a tensor of any size streams with constant memory.
 *
 * <p>Thread ownership: the thread that called {@link GgufWriter#write}.
 */
public final class TensorSink {
    private final FileChannel channel;
    private final ByteBuffer staging;
    private final MemorySegment stagingSegment;
    private final GgufWriter.Progress progress;
    private final long totalBytes;
    private long writtenBytes;
    private long tensorRemainingBytes;

    TensorSink(FileChannel channel, int stagingBytes, GgufWriter.Progress progress, long totalBytes) {
        this.channel = channel;
        this.staging = ByteBuffer.allocateDirect(stagingBytes);
        this.stagingSegment = MemorySegment.ofBuffer(staging);
        this.progress = progress;
        this.totalBytes = totalBytes;
    }

    /** Bytes the current tensor still expects. */
    public long remainingBytes() {
        return tensorRemainingBytes;
    }

    public void write(byte[] src, int offset, int length) throws IOException {
        write(MemorySegment.ofArray(src).asSlice(offset, length));
    }

    public void write(MemorySegment src) throws IOException {
        long length = src.byteSize();
        if (length > tensorRemainingBytes) {
            throw new IllegalStateException("tensor data overflow: writing " + length + " bytes, "
                    + tensorRemainingBytes + " remain");
        }
        tensorRemainingBytes -= length;
        long done = 0;
        while (done < length) {
            int n = (int) Math.min(length - done, staging.remaining());
            MemorySegment.copy(src, done, stagingSegment, staging.position(), n);
            staging.position(staging.position() + n);
            done += n;
            if (!staging.hasRemaining()) {
                flush();
            }
        }
    }

    void beginTensor(long sizeBytes) {
        tensorRemainingBytes = sizeBytes;
    }

    /** Header bytes and padding: not counted against a tensor. */
    void writeRaw(byte[] bytes) throws IOException {
        long saved = tensorRemainingBytes;
        tensorRemainingBytes = bytes.length;
        write(bytes, 0, bytes.length);
        tensorRemainingBytes = saved;
    }

    void zeros(int count) throws IOException {
        writeRaw(new byte[count]);
    }

    void flush() throws IOException {
        staging.flip();
        while (staging.hasRemaining()) {
            writtenBytes += channel.write(staging);
        }
        staging.clear();
        if (progress != null) {
            progress.update(writtenBytes, totalBytes);
        }
    }
}
