package dev.tandem.core;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The small records every module passes around: their checks and derived values. */
class CoreRecordsTest {
    @Test
    void kvLayout_offsets_followTheDiagramAndDeriveFromEachOther() {
        KvLayout l = new KvLayout(16, 22, 4, 64, KvDtype.F16);

        assertThat(l.kvDim()).isEqualTo(256);
        assertThat(l.rowBytes()).isEqualTo(512);
        assertThat(l.planeBytes()).isEqualTo(16 * 512);
        assertThat(l.blockBytes()).isEqualTo(2L * 22 * 16 * 512);
        assertThat(l.keyOffset(0)).isZero();
        assertThat(l.valueOffset(0)).isEqualTo(l.planeBytes());
        assertThat(l.keyOffset(21) + 2 * l.planeBytes()).as("the last V plane ends the block").isEqualTo(l.blockBytes());
        assertThat(l).isEqualTo(new KvLayout(16, 22, 4, 64, KvDtype.F16)).isNotEqualTo(new KvLayout(16, 22, 4, 64, KvDtype.F32));
    }

    @Test
    void kvLayout_nonPositiveDimensionOrNoDtype_refusedWithTheValues() {
        assertThatThrownBy(() -> new KvLayout(0, 22, 4, 64, KvDtype.F16))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("blockSize=0");
        assertThatThrownBy(() -> new KvLayout(16, 22, 4, -1, KvDtype.F16)).hasMessageContaining("headDim=-1");
        assertThatThrownBy(() -> new KvLayout(16, 22, 4, 64, null)).hasMessageContaining("dtype");
    }

    @Test
    void usage_computedTokensAreWhatNeitherCacheNorTransferGave() {
        Usage u = new Usage(100, 32, 48, 7);

        assertThat(u.computedPromptTokens()).isEqualTo(20);
        assertThat(u.totalTokens()).isEqualTo(107);
        assertThatThrownBy(() -> new Usage(10, 6, 5, 0)).hasMessageContaining("cached=6 transferred=5");
        assertThatThrownBy(() -> new Usage(10, 0, 0, -1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void samplingParams_outOfRange_invalidNamingTheOpenAiParameterAndRange() {
        assertThat(SamplingParams.GREEDY.greedy()).isTrue();
        assertThat(SamplingParams.GREEDY.hasPenalties()).isFalse();
        assertThat(SamplingParams.GREEDY.withTemperature(0.5f).greedy()).isFalse();
        assertThat(SamplingParams.GREEDY.withSeed(3L).seed()).isEqualTo(3L);

        assertThatThrownBy(() -> SamplingParams.GREEDY.withTemperature(-0.1f))
                .isInstanceOfSatisfying(RequestException.class, e -> {
                    assertThat(e.param()).isEqualTo("temperature");
                    assertThat(e.kind()).isEqualTo(RequestException.Kind.INVALID);
                })
                .hasMessageContaining("[0, 100]");
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 0f, 0f, null, 1f, 0f, 0f))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.param()).isEqualTo("top_p"));
        assertThatThrownBy(() -> new SamplingParams(1f, 0, 1f, 0f, null, 1f, 2.5f, 0f))
                .isInstanceOfSatisfying(RequestException.class, e -> assertThat(e.param()).isEqualTo("presence_penalty"));
        assertThat(new SamplingParams(1f, 0, 1f, 0f, null, 1.1f, 0f, 0f).hasPenalties()).isTrue();
    }

    @Test
    void kvHandle_arraysCopied_equalByContent_andExpiryInclusive() {
        int[] blocks = {4, 5, 6};
        long[] hashes = {11, 12, 0};
        List<TransferEndpoint> eps = List.of(new TransferEndpoint(TransferKind.TCP, null, "h:1"));
        KvLayout layout = new KvLayout(4, 1, 1, 4, KvDtype.F32);
        KvHandle h = new KvHandle(1, "p1", eps, blocks, hashes, 10, layout, 1_000);
        blocks[0] = 99;
        h.blockIds()[1] = 99;

        assertThat(h.blockIds()).containsExactly(4, 5, 6);
        assertThat(h.blockCount()).isEqualTo(3);
        assertThat(h).isEqualTo(new KvHandle(1, "p1", eps, new int[] {4, 5, 6}, new long[] {11, 12, 0}, 10, layout, 1_000));
        assertThat(h.expired(999)).isFalse();
        assertThat(h.expired(1_000)).isTrue();
        assertThat(h.endpoints().getFirst().scopeId()).as("a missing scope id is empty").isEmpty();
    }

    @Test
    void kvHandle_inconsistentParts_refusedNamingTheHandle() {
        List<TransferEndpoint> eps = List.of(new TransferEndpoint(TransferKind.TCP, "", "h:1"));
        KvLayout layout = new KvLayout(4, 1, 1, 4, KvDtype.F32);

        assertThatThrownBy(() -> new KvHandle(7, "p1", eps, new int[2], new long[3], 8, layout, 0))
                .hasMessageContaining("KV handle 7: 2 block ids but 3 sequence hashes");
        assertThatThrownBy(() -> new KvHandle(7, "p1", eps, new int[] {-1}, new long[1], 4, layout, 0))
                .hasMessageContaining("negative block id -1");
        assertThatThrownBy(() -> new KvHandle(7, " ", eps, new int[1], new long[1], 4, layout, 0))
                .hasMessageContaining("no worker id");
        assertThatThrownBy(() -> new KvHandle(7, "p1", List.of(), new int[1], new long[1], 4, layout, 0))
                .hasMessageContaining("no transfer endpoint");
    }

    @Test
    void kvHandle_movedByEngines_carriesTheParamsInEqualityAndRefusesMixedForms() {
        List<TransferEndpoint> nixl = List.of(new TransferEndpoint(TransferKind.NIXL, "", "http://p:8100"));
        List<TransferEndpoint> tcp = List.of(new TransferEndpoint(TransferKind.TCP, "", "h:1"));
        KvLayout layout = new KvLayout(4, 1, 1, 4, KvDtype.F32);
        String params = "{\"remote_engine_id\":\"e1\",\"remote_block_ids\":[1,2]}";

        KvHandle h = new KvHandle(3, "p1", nixl, new int[0], new long[0], 8, layout, 1_000, params);

        assertThat(h.movedByEngines()).isTrue();
        assertThat(h.transferParams()).isEqualTo(params);
        assertThat(h).isEqualTo(new KvHandle(3, "p1", nixl, new int[0], new long[0], 8, layout, 1_000, params))
                .isNotEqualTo(new KvHandle(3, "p1", nixl, new int[0], new long[0], 8, layout, 1_000, "{\"x\":1}"));
        assertThat(new KvHandle(1, "p1", tcp, new int[1], new long[1], 4, layout, 0).movedByEngines()).isFalse();
        assertThat(new KvHandle(1, "p1", tcp, new int[1], new long[1], 4, layout, 0, null).transferParams()).isEmpty();
        assertThatThrownBy(() -> new KvHandle(3, "p1", nixl, new int[0], new long[0], 8, layout, 0, ""))
                .hasMessageContaining("transfer parameters");
        assertThatThrownBy(() -> new KvHandle(3, "p1", nixl, new int[] {1}, new long[1], 8, layout, 0, params))
                .hasMessageContaining("no Tandem block ids");
        assertThatThrownBy(() -> new KvHandle(3, "p1", List.of(nixl.getFirst(), tcp.getFirst()), new int[0],
                new long[0], 8, layout, 0, params)).hasMessageContaining("exactly one endpoint");
        assertThatThrownBy(() -> new KvHandle(3, "p1", tcp, new int[1], new long[1], 4, layout, 0, params))
                .hasMessageContaining("are Tandem transports");
        assertThatThrownBy(() -> new TransferEndpoint(TransferKind.NIXL, "", "p:8100"))
                .hasMessageContaining("http(s) URL");
    }

    @Test
    void transferEndpoint_sameHostKindsWithoutScope_refused() {
        assertThatThrownBy(() -> new TransferEndpoint(TransferKind.SHM, "", "/dev/shm/pool"))
                .hasMessageContaining("needs a scope id");
        assertThatThrownBy(() -> new TransferEndpoint(TransferKind.TCP, "", " ")).hasMessageContaining("no address");
        assertThat(new TransferEndpoint(TransferKind.LOCAL, "jvm-1", "pool-0").kind().label()).isEqualTo("local");
    }
}
