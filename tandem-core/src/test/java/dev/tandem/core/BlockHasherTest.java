package dev.tandem.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.SplittableRandom;
import net.openhft.hashing.LongHashFunction;
import org.junit.jupiter.api.Test;

class BlockHasherTest {
    private static final long PRIME32 = 2654435761L;
    private static final long PRIME64 = 0x9E3779B185EBCA8DL;

    /** xxHash's sanity buffer: buffer[i] = byteGen >> 56; byteGen *= PRIME64, from PRIME32. */
    private static byte[] sanityBuffer(int length) {
        byte[] buffer = new byte[length];
        long byteGen = PRIME32;
        for (int i = 0; i < length; i++) {
            buffer[i] = (byte) (byteGen >>> 56);
            byteGen *= PRIME64;
        }
        return buffer;
    }

    @Test
    void xxh3_publishedVectors_match() {
        // XXH3_64bits and XXH3_64bits_withSeed(PRIME64) values from xxHash's xsum_sanity_check.c.
        assertThat(LongHashFunction.xx3().hashBytes(new byte[0])).isEqualTo(0x2D06800538D394C2L);
        assertThat(LongHashFunction.xx3(PRIME64).hashBytes(new byte[0])).isEqualTo(0xA8A6B918B2F0364AL);
        long[][] cases = {
            {6, 0, 0x27B56A84CD2D7325L}, {6, PRIME64, 0x84589C116AB59AB9L},
            {12, 0, 0xA713DAF0DFBB77E7L}, {12, PRIME64, 0xE7303E1B2336DE0EL},
            {24, 0, 0xA3FE70BF9D3510EBL}, {24, PRIME64, 0x850E80FC35BDD690L},
            {48, 0, 0x397DA259ECBA1F11L}, {48, PRIME64, 0xADC2CBAA44ACC616L},
            {80, 0, 0xBCDEFBBB2C47C90AL}, {80, PRIME64, 0xC6DD0CB699532E73L},
            {195, 0, 0xCD94217EE362EC3AL}, {195, PRIME64, 0xBA68003D370CB3D9L},
        };
        for (long[] c : cases) {
            byte[] data = sanityBuffer((int) c[0]);
            assertThat(LongHashFunction.xx3(c[1]).hashBytes(data))
                    .as("len=%d seed=%x", c[0], c[1]).isEqualTo(c[2]);
        }
    }

    @Test
    void localHash_isXxh3Seed1337OverLittleEndianU32() {
        int[] tokens = {1, 403, 407, 261, 378, 70000, -1, 2};
        ByteBuffer bytes = ByteBuffer.allocate(tokens.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int t : tokens) {
            bytes.putInt(t);
        }
        assertThat(BlockHasher.localHash(tokens, 0, tokens.length))
                .isEqualTo(LongHashFunction.xx3(1337).hashBytes(bytes.array()));
    }

    @Test
    void sequenceHashes_chainParentAndLocal() {
        int[] tokens = new int[40];
        Arrays.setAll(tokens, i -> i * 7 + 3);
        long[] local = BlockHasher.localHashes(tokens, tokens.length, 16);
        long[] seq = BlockHasher.sequenceHashes(tokens, 16);
        assertThat(local).hasSize(2);
        assertThat(seq).hasSize(2);
        assertThat(seq[0]).isEqualTo(local[0]);
        ByteBuffer pair = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(seq[0]).putLong(local[1]);
        assertThat(seq[1]).isEqualTo(LongHashFunction.xx3(1337).hashBytes(pair.array()));
        assertThat(BlockHasher.chain(seq[0], local[1])).isEqualTo(seq[1]);
    }

    @Test
    void sequenceHashes_samePrefix_sameLeadingHashes_thenDiverge() {
        SplittableRandom random = new SplittableRandom(42);
        int[] a = random.ints(64, 0, 32000).toArray();
        int[] b = a.clone();
        b[40] ^= 1; // differs in block 2 (tokens 32..47)
        long[] ha = BlockHasher.sequenceHashes(a, 16);
        long[] hb = BlockHasher.sequenceHashes(b, 16);
        assertThat(Arrays.copyOf(hb, 2)).containsExactly(ha[0], ha[1]);
        assertThat(hb[2]).isNotEqualTo(ha[2]);
        assertThat(hb[3]).isNotEqualTo(ha[3]); // chaining: later blocks differ too even with equal tokens
    }

    @Test
    void sequenceHashes_partialBlock_isNotHashed() {
        assertThat(BlockHasher.sequenceHashes(new int[15], 16)).isEmpty();
        assertThat(BlockHasher.sequenceHashes(new int[33], 16)).hasSize(2);
        assertThatThrownBy(() -> BlockHasher.sequenceHashes(new int[4], 0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("blockSize");
    }

    @Test
    void sequenceHashes_tokenCountShorterThanTheArray_hashesOnlyThatPrefix() {
        int[] tokens = new SplittableRandom(3).ints(64, 0, 32_000).toArray();
        int[] prefix = Arrays.copyOf(tokens, 40);

        assertThat(BlockHasher.sequenceHashes(tokens, 40, 16)).containsExactly(BlockHasher.sequenceHashes(prefix, 16));
        assertThat(BlockHasher.localHashes(tokens, 40, 16)).hasSize(2);
    }

    @Test
    void sequenceHashes_emptyPromptOrNoLocalHashes_empty() {
        assertThat(BlockHasher.sequenceHashes(new int[0], 16)).isEmpty();
        assertThat(BlockHasher.sequenceHashes(new long[0])).isEmpty();
    }

    @Test
    void sequenceHashes_blockSizeOne_everyTokenItsOwnChainedBlock() {
        int[] tokens = {7, 7, 7};
        long[] seq = BlockHasher.sequenceHashes(tokens, 1);
        long local = BlockHasher.localHash(tokens, 0, 1);

        assertThat(seq).containsExactly(local, BlockHasher.chain(local, local),
                BlockHasher.chain(BlockHasher.chain(local, local), local));
        assertThat(seq).as("the same token at another position is another block").doesNotHaveDuplicates();
    }

    @Test
    void localHash_negativeId_hashedAsItsUnsigned32BitPattern() {
        byte[] le = ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(-1).array();

        assertThat(BlockHasher.localHash(new int[] {-1}, 0, 1)).isEqualTo(BlockHasher.xxh3(le));
        assertThat(le).containsOnly((byte) 0xFF);
    }

    @Test
    void localHash_offsetIntoTheArray_sameAsTheBlockAlone() {
        int[] tokens = {1, 2, 3, 4, 5, 6};
        assertThat(BlockHasher.localHash(tokens, 2, 3)).isEqualTo(BlockHasher.localHash(new int[] {3, 4, 5}, 0, 3));
        assertThat(BlockHasher.localHashes(tokens, 6, 3))
                .containsExactly(BlockHasher.localHash(tokens, 0, 3), BlockHasher.localHash(tokens, 3, 3));
    }

    @Test
    void sequenceHashes_oneTokenChangedInBlockK_hashesBeforeKStayAllFromKOnChange() {
        SplittableRandom random = new SplittableRandom(11);
        for (int round = 0; round < 50; round++) {
            int blockSize = 1 + random.nextInt(32);
            int blocks = 1 + random.nextInt(8);
            int[] a = random.ints((long) blocks * blockSize, 0, 50_000).toArray();
            int[] b = a.clone();
            int changed = random.nextInt(a.length);
            b[changed] ^= 1 + random.nextInt(1000);
            long[] ha = BlockHasher.sequenceHashes(a, blockSize);
            long[] hb = BlockHasher.sequenceHashes(b, blockSize);
            int k = changed / blockSize;
            for (int i = 0; i < blocks; i++) {
                if (i < k) {
                    assertThat(hb[i]).as("round %d block %d before the change at block %d", round, i, k).isEqualTo(ha[i]);
                } else {
                    assertThat(hb[i]).as("round %d block %d from the change at block %d", round, i, k).isNotEqualTo(ha[i]);
                }
            }
        }
    }

    @Test
    void fullBlocks_negativeBlockSize_refusedNamingIt() {
        assertThatThrownBy(() -> BlockHasher.fullBlocks(10, -4))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("got -4");
        assertThat(BlockHasher.fullBlocks(31, 16)).isEqualTo(1);
        assertThat(BlockHasher.fullBlocks(32, 16)).isEqualTo(2);
    }
}
