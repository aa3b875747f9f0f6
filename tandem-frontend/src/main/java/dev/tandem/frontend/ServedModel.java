package dev.tandem.frontend;

import dev.tandem.frontend.text.TextModel;
import java.util.Objects;

/**
 * A model the frontend serves: the name clients ask for and its tokenizer / chat template.
 * Its workers are whichever workers report the same model name.
 */
public record ServedModel(String name, TextModel text) {
    public ServedModel {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(text, "text");
    }
}
