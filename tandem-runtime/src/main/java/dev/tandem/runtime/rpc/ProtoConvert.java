package dev.tandem.runtime.rpc;

import dev.tandem.core.ConfigException;
import dev.tandem.core.EngineInfo;
import dev.tandem.core.FinishReason;
import dev.tandem.core.GenerateRequest;
import dev.tandem.core.GeneratedToken;
import dev.tandem.core.KvDtype;
import dev.tandem.core.KvHandle;
import dev.tandem.core.KvLayout;
import dev.tandem.core.KvSnapshot;
import dev.tandem.core.LoadReport;
import dev.tandem.core.OutputConstraint;
import dev.tandem.core.PrefillResult;
import dev.tandem.core.ProtocolException;
import dev.tandem.core.RemotePrefill;
import dev.tandem.core.RequestException;
import dev.tandem.core.SamplingParams;
import dev.tandem.core.TransferEndpoint;
import dev.tandem.core.TransferKind;
import dev.tandem.core.Usage;
import dev.tandem.runtime.rpc.proto.EngineInfoMsg;
import dev.tandem.runtime.rpc.proto.FinishReasonMsg;
import dev.tandem.runtime.rpc.proto.GenerateRequestMsg;
import dev.tandem.runtime.rpc.proto.KvHandleMsg;
import dev.tandem.runtime.rpc.proto.KvLayoutMsg;
import dev.tandem.runtime.rpc.proto.KvSnapshotResponse;
import dev.tandem.runtime.rpc.proto.LoadResponse;
import dev.tandem.runtime.rpc.proto.PrefillResponse;
import dev.tandem.runtime.rpc.proto.SamplingMsg;
import dev.tandem.runtime.rpc.proto.TokenMsg;
import dev.tandem.runtime.rpc.proto.TransferEndpointMsg;
import dev.tandem.runtime.rpc.proto.UsageMsg;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Conversions between core records and their protobuf messages. Decoders validate through the
 * records' own constructors: a request that is invalid arrives as a RequestException(INVALID)
 * naming the field; a response that is malformed is a ProtocolException.
 *
 * <p>Stateless.
 */
final class ProtoConvert {
    private ProtoConvert() {
    }

    static GenerateRequestMsg toProto(GenerateRequest r) {
        SamplingParams s = r.sampling();
        SamplingMsg.Builder sampling = SamplingMsg.newBuilder().setTemperature(s.temperature()).setTopK(s.topK())
                .setTopP(s.topP()).setMinP(s.minP()).setRepetitionPenalty(s.repetitionPenalty())
                .setPresencePenalty(s.presencePenalty()).setFrequencyPenalty(s.frequencyPenalty());
        if (s.seed() != null) {
            sampling.setSeed(s.seed());
        }
        GenerateRequestMsg.Builder b = GenerateRequestMsg.newBuilder().setRequestId(r.requestId())
                .setSampling(sampling).setMaxTokens(r.maxTokens()).setIgnoreEos(r.ignoreEos())
                .setTopLogprobs(r.topLogprobs());
        for (int i = 0; i < r.promptLength(); i++) {
            b.addPromptTokens(r.promptToken(i));
        }
        for (int id : r.stopTokenIds()) {
            b.addStopTokenIds(id);
        }
        OutputConstraint c = r.constraint();
        if (c != null) {
            b.setConstraintSchema(c.jsonSchema()).setConstraintPrefix(c.prefix()).setConstraintSuffix(c.suffix())
                    .setConstraintReplayedTokens(c.replayedTokens());
        }
        RemotePrefill rp = r.remotePrefill();
        if (rp != null) {
            b.setFirstToken(toProto(rp.firstToken())).setHandle(toProto(rp.handle()))
                    .setPrefillAddress(rp.prefillAddress()).setRemotePrefillRequired(rp.required());
        }
        return b.build();
    }

    /** @throws dev.tandem.core.RequestException (INVALID) naming the bad field */
    static GenerateRequest fromProto(GenerateRequestMsg m) {
        SamplingMsg s = m.getSampling();
        SamplingParams sampling = m.hasSampling()
                ? new SamplingParams(s.getTemperature(), s.getTopK(), s.getTopP(), s.getMinP(),
                        s.hasSeed() ? s.getSeed() : null, s.getRepetitionPenalty(), s.getPresencePenalty(),
                        s.getFrequencyPenalty())
                : SamplingParams.GREEDY;
        GenerateRequest r = new GenerateRequest(m.getRequestId(), toInts(m.getPromptTokensList()), sampling,
                m.getMaxTokens(), toInts(m.getStopTokenIdsList()), m.getIgnoreEos(), m.getTopLogprobs());
        if (!m.getConstraintSchema().isEmpty()) {
            if (m.getConstraintReplayedTokens() < 0) {
                throw new RequestException(RequestException.Kind.INVALID, "[req=" + m.getRequestId()
                        + "] constraint_replayed_tokens " + m.getConstraintReplayedTokens(), "response_format", null);
            }
            r = r.withConstraint(new OutputConstraint(m.getConstraintSchema(), m.getConstraintPrefix(),
                    m.getConstraintSuffix(), m.getConstraintReplayedTokens()));
        }
        if (!m.hasHandle()) {
            return r;
        }
        try {
            return r.withRemotePrefill(new RemotePrefill(fromProto(m.getFirstToken()), fromProto(m.getHandle()),
                    m.getPrefillAddress(), m.getRemotePrefillRequired()));
        } catch (ProtocolException e) {
            throw new RequestException(RequestException.Kind.INVALID, "[req=" + m.getRequestId() + "] " + e.getMessage(),
                    "kv_handle", e);
        }
    }

    static TokenMsg toProto(GeneratedToken t) {
        TokenMsg.Builder b = TokenMsg.newBuilder().setId(t.tokenId()).setLogprob(t.logprob());
        for (int id : t.topIds()) {
            b.addTopIds(id);
        }
        for (float lp : t.topLogprobs()) {
            b.addTopLogprobs(lp);
        }
        return b.build();
    }

    static GeneratedToken fromProto(TokenMsg m) {
        float[] top = new float[m.getTopLogprobsCount()];
        for (int i = 0; i < top.length; i++) {
            top[i] = m.getTopLogprobs(i);
        }
        try {
            return new GeneratedToken(m.getId(), m.getLogprob(), toInts(m.getTopIdsList()), top);
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("malformed token from worker: " + e.getMessage(), e);
        }
    }

    static UsageMsg toProto(Usage u) {
        return UsageMsg.newBuilder().setPromptTokens(u.promptTokens()).setCachedPromptTokens(u.cachedPromptTokens())
                .setTransferredPromptTokens(u.transferredPromptTokens()).setCompletionTokens(u.completionTokens()).build();
    }

    static Usage fromProto(UsageMsg m) {
        try {
            return new Usage(m.getPromptTokens(), m.getCachedPromptTokens(), m.getTransferredPromptTokens(),
                    m.getCompletionTokens());
        } catch (IllegalArgumentException e) {
            throw new ProtocolException("malformed usage from worker: " + e.getMessage(), e);
        }
    }

    static FinishReasonMsg toProto(FinishReason r) {
        return switch (r) {
            case STOP -> FinishReasonMsg.FINISH_REASON_STOP;
            case LENGTH -> FinishReasonMsg.FINISH_REASON_LENGTH;
            case CANCELLED -> FinishReasonMsg.FINISH_REASON_CANCELLED;
        };
    }

    static FinishReason fromProto(FinishReasonMsg m) {
        return switch (m) {
            case FINISH_REASON_STOP -> FinishReason.STOP;
            case FINISH_REASON_LENGTH -> FinishReason.LENGTH;
            case FINISH_REASON_CANCELLED -> FinishReason.CANCELLED;
            case FINISH_REASON_UNSPECIFIED, UNRECOGNIZED ->
                    throw new ProtocolException("worker sent an unknown finish reason " + m);
        };
    }

    static KvLayoutMsg toProto(KvLayout l) {
        return KvLayoutMsg.newBuilder().setBlockSizeTokens(l.blockSizeTokens()).setLayerCount(l.layerCount())
                .setKvHeadCount(l.kvHeadCount()).setHeadDim(l.headDim())
                .setDtype(l.dtype().name().toLowerCase(Locale.ROOT)).build();
    }

    static KvLayout fromProto(KvLayoutMsg m) {
        try {
            return new KvLayout(m.getBlockSizeTokens(), m.getLayerCount(), m.getKvHeadCount(), m.getHeadDim(),
                    KvDtype.parse(m.getDtype()));
        } catch (RuntimeException e) {
            throw new ProtocolException("malformed KV layout from worker: " + e.getMessage(), e);
        }
    }

    static EngineInfoMsg toProto(EngineInfo i) {
        return EngineInfoMsg.newBuilder().setModelName(i.modelName()).setLayout(toProto(i.layout()))
                .setTotalBlocks(i.totalBlocks()).setMaxBatchTokens(i.maxBatchTokens()).setMaxSequences(i.maxSequences())
                .setContextLength(i.contextLength()).setVocabSize(i.vocabSize()).setSimulated(i.simulated()).build();
    }

    static EngineInfo fromProto(EngineInfoMsg m) {
        return new EngineInfo(m.getModelName(), fromProto(m.getLayout()), m.getTotalBlocks(), m.getMaxBatchTokens(),
                m.getMaxSequences(), m.getContextLength(), m.getVocabSize(), m.getSimulated());
    }

    static LoadResponse toProto(LoadReport r) {
        return LoadResponse.newBuilder().setTotalBlocks(r.totalBlocks()).setActiveBlocks(r.activeBlocks())
                .setCachedBlocks(r.cachedBlocks()).setRunningSequences(r.runningSequences())
                .setWaitingSequences(r.waitingSequences()).setQueuedPrefillTokens(r.queuedPrefillTokens())
                .setPromptTokens(r.promptTokens()).setCachedPromptTokens(r.cachedPromptTokens()).build();
    }

    static LoadReport fromProto(LoadResponse m) {
        return new LoadReport(m.getTotalBlocks(), m.getActiveBlocks(), m.getCachedBlocks(), m.getRunningSequences(),
                m.getWaitingSequences(), m.getQueuedPrefillTokens(), m.getPromptTokens(), m.getCachedPromptTokens());
    }

    static KvSnapshotResponse toProto(KvSnapshot s) {
        KvSnapshotResponse.Builder b = KvSnapshotResponse.newBuilder().setLastEventId(s.lastEventId());
        for (long h : s.sequenceHashes()) {
            b.addSequenceHashes(h);
        }
        return b.build();
    }

    static KvSnapshot fromProto(KvSnapshotResponse m) {
        long[] hashes = new long[m.getSequenceHashesCount()];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = m.getSequenceHashes(i);
        }
        return new KvSnapshot(m.getLastEventId(), hashes);
    }

    static KvHandleMsg toProto(KvHandle h) {
        KvHandleMsg.Builder b = KvHandleMsg.newBuilder().setHandleId(h.handleId()).setWorkerId(h.workerId())
                .setPromptTokens(h.promptTokens()).setLayout(toProto(h.layout()))
                .setExpiresAtEpochMs(h.expiresAtEpochMs()).setTransferParams(h.transferParams());
        for (TransferEndpoint e : h.endpoints()) {
            b.addEndpoints(TransferEndpointMsg.newBuilder().setKind(e.kind().label()).setScopeId(e.scopeId())
                    .setAddress(e.address()));
        }
        for (int id : h.blockIds()) {
            b.addBlockIds(id);
        }
        for (long s : h.sequenceHashes()) {
            b.addSequenceHashes(s);
        }
        return b.build();
    }

    static KvHandle fromProto(KvHandleMsg m) {
        long[] hashes = new long[m.getSequenceHashesCount()];
        for (int i = 0; i < hashes.length; i++) {
            hashes[i] = m.getSequenceHashes(i);
        }
        try {
            List<TransferEndpoint> endpoints = new ArrayList<>();
            for (TransferEndpointMsg e : m.getEndpointsList()) {
                endpoints.add(new TransferEndpoint(TransferKind.parse(e.getKind()), e.getScopeId(), e.getAddress()));
            }
            return new KvHandle(m.getHandleId(), m.getWorkerId(), endpoints, toInts(m.getBlockIdsList()), hashes,
                    m.getPromptTokens(), fromProto(m.getLayout()), m.getExpiresAtEpochMs(), m.getTransferParams());
        } catch (IllegalArgumentException | NullPointerException | ConfigException e) {
            throw new ProtocolException("malformed KV handle from worker: " + e.getMessage(), e);
        }
    }

    static PrefillResponse toProto(PrefillResult r) {
        return PrefillResponse.newBuilder().setFirstToken(toProto(r.firstToken())).setHandle(toProto(r.handle()))
                .setUsage(toProto(r.usage())).build();
    }

    static PrefillResult fromProto(PrefillResponse m) {
        return new PrefillResult(fromProto(m.getFirstToken()), fromProto(m.getHandle()), fromProto(m.getUsage()));
    }

    private static int[] toInts(List<Integer> list) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i);
        }
        return out;
    }
}
