package dev.tandem.worker;

import dev.tandem.engine.LoadedModel;

/** An {@link EngineSource} over an opened model: its name, and closing it when the source owns it. */
abstract class ModelSource implements EngineSource {
    private final LoadedModel model;
    private final boolean owns;

    ModelSource(LoadedModel model, boolean owns) {
        this.model = model;
        this.owns = owns;
    }

    @Override
    public String modelName() {
        return model.name();
    }

    @Override
    public void close() {
        if (owns) {
            model.close();
        }
    }
}
