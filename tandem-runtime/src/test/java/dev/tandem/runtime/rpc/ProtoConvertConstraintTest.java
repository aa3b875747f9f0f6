package dev.tandem.runtime.rpc;

import static org.assertj.core.api.Assertions.assertThat;

import dev.tandem.core.GenerateRequest;
import dev.tandem.core.OutputConstraint;
import org.junit.jupiter.api.Test;

class ProtoConvertConstraintTest {
    @Test
    void toProto_constrainedRequest_roundTripsTheConstraint() {
        OutputConstraint c = new OutputConstraint("{\"type\":\"object\"}", "<tool_call>", "</tool_call>", 2);
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 5, 6, 7}, 8).withConstraint(c);
        GenerateRequest back = ProtoConvert.fromProto(ProtoConvert.toProto(r));
        assertThat(back.constraint()).isEqualTo(c);
        assertThat(back).isEqualTo(r);
    }

    @Test
    void toProto_unconstrainedRequest_staysUnconstrained() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 5}, 8);
        assertThat(ProtoConvert.fromProto(ProtoConvert.toProto(r)).constraint()).isNull();
    }

    @Test
    void continueWith_migratedRequest_countsTheTokensToReplay() {
        GenerateRequest r = GenerateRequest.greedy("r", new int[] {1, 5}, 8)
                .withConstraint(OutputConstraint.jsonSchema("{}"));
        GenerateRequest moved = r.continueWith("r-m1", new int[] {1, 5, 9, 10, 11}, 5);
        assertThat(moved.constraint().replayedTokens()).isEqualTo(3);
        assertThat(moved.continueWith("r-m2", new int[] {1, 5, 9, 10, 11, 12}, 4).constraint().replayedTokens())
                .isEqualTo(4);
    }
}
