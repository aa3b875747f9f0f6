package dev.tandem.runtime.events;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

class SubjectsTest {
    @Test
    void names_followLayout() {
        assertThat(Subjects.kv("prod", "w-1")).isEqualTo("tandem.prod.kv.w-1");
        assertThat(Subjects.load("prod", "w-1")).isEqualTo("tandem.prod.load.w-1");
        assertThat(Subjects.allKv("prod")).isEqualTo("tandem.prod.kv.*");
        assertThat(Subjects.lastToken("tandem.prod.kv.w-1")).isEqualTo("w-1");
        assertThatThrownBy(() -> Subjects.kv("prod", "a.b")).hasMessageContaining("'a.b'");
    }

    @Test
    void matches_natsWildcardSemantics() {
        assertThat(Subjects.matches("tandem.ns.kv.*", "tandem.ns.kv.w1")).isTrue();
        assertThat(Subjects.matches("tandem.ns.kv.*", "tandem.ns.kv")).isFalse();
        assertThat(Subjects.matches("tandem.ns.kv.*", "tandem.ns.kv.w1.x")).isFalse();
        assertThat(Subjects.matches("tandem.*.kv.w1", "tandem.ns.kv.w1")).isTrue();
        assertThat(Subjects.matches("tandem.>", "tandem.ns.kv.w1")).isTrue();
        assertThat(Subjects.matches("tandem.>", "tandem")).isFalse();
        assertThat(Subjects.matches("tandem.ns.kv.w1", "tandem.ns.kv.w1")).isTrue();
        assertThat(Subjects.matches("tandem.ns.kv.w1", "tandem.ns.kv.w2")).isFalse();
    }

    @Test
    void check_invalidSubjects_rejected() {
        assertThatThrownBy(() -> Subjects.checkLiteral("a.*")).hasMessageContaining("wildcard");
        assertThatThrownBy(() -> Subjects.checkPattern("a..b")).hasMessageContaining("empty token");
        assertThatThrownBy(() -> Subjects.checkPattern("a.>.b")).hasMessageContaining("last token");
        assertThatThrownBy(() -> Subjects.checkPattern("a b")).hasMessageContaining("whitespace");
    }
}
