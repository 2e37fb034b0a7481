// EngineWorker's LoRA adapters: loaded onto the engine on this thread (reading an adapter
// converts its pairs to f32: never on the UI's), unloaded once their requests are done, and
// carried over to the next model where they fit.

#include <algorithm>

#include "app/bridge/engine_worker.h"
#include "app/bridge/model_info.h"
#include "engine/error.h"
#include "engine/lora_adapter.h"

namespace kvscope::app {

EngineWorker::LoadedLora EngineWorker::attachLora(Engine& engine, const QString& source, const QString& name,
                                                  const QString& path) {
    if (name.trimmed().isEmpty()) throw ConfigError("a LoRA adapter needs a name: requests pick it by name");
    const QString modelName = modelDisplayName(source, engine.model().config());
    if (name == modelName || name.toStdString() == engine.model().config().name) {
        throw ConfigError("'" + name.toStdString() + "' is the base model's name (it picks the base model); give the " +
                          "adapter another name");
    }
    if (engine.has_lora(name.toStdString())) {
        throw ConfigError("an adapter named '" + name.toStdString() +
                          "' is loaded already; give this one another name");
    }
    std::shared_ptr<const LoraAdapter> adapter = LoraAdapter::load(path.toStdString(), engine.model());
    engine.add_lora(name.toStdString(), adapter);
    return LoadedLora{name, path, std::move(adapter)};
}

std::vector<EngineWorker::LoadedLora> EngineWorker::carryLoras(Engine& engine, const QString& source,
                                                               QStringList& dropped) const {
    std::vector<LoadedLora> kept;
    for (const LoadedLora& lora : loras_) {
        try {
            kept.push_back(attachLora(engine, source, lora.name, lora.path));
        } catch (const kvscope::Error& e) {
            dropped << tr("LoRA adapter '%1' was dropped: it does not fit the new model. %2")
                           .arg(lora.name, QString::fromStdString(e.what()));
        } catch (const std::bad_alloc&) {
            dropped << tr("LoRA adapter '%1' was dropped: out of memory while reading it again.").arg(lora.name);
        }
    }
    return kept;
}

ui::ModelSummary EngineWorker::summary() const {
    ui::ModelSummary s = summarize(source_, *engine_);
    // The vocabulary once per model (not again with every adapter loaded or unloaded).
    if (vocabularyOf_.lock() != model_ || !vocabulary_) {
        vocabulary_ = tokenVocabulary(engine_->model().tokenizer());
        vocabularyOf_ = model_;
    }
    s.vocabulary = vocabulary_;
    for (const LoadedLora& l : loras_) {
        s.loras.append({l.name, l.path, l.adapter->rank(), double(l.adapter->alpha()), l.adapter->num_pairs()});
    }
    return s;
}

void EngineWorker::loadLora(const kvscope::ui::LoraLoadRequest& request) {
    if (!engine_) {
        emit loraLoadFailed(tr("No model is loaded: load one, then its LoRA adapters."));
        return;
    }
    try {
        loras_.push_back(attachLora(*engine_, source_, request.name.trimmed(), request.path));
        const LoadedLora& l = loras_.back();
        emit loraLoaded({l.name, l.path, l.adapter->rank(), double(l.adapter->alpha()), l.adapter->num_pairs()});
        updateServedLoras();
        publishSnapshot(Detail::Full);  // its name joins the snapshot's adapters
    } catch (const kvscope::Error& e) {
        emit loraLoadFailed(
            tr("Cannot load LoRA adapter '%1': %2").arg(request.name, QString::fromStdString(e.what())));
    } catch (const std::bad_alloc&) {
        emit loraLoadFailed(
            tr("Cannot load LoRA adapter '%1': out of memory while reading %2.").arg(request.name, request.path));
    }
}

void EngineWorker::unloadLora(const QString& name) {
    const auto it = std::find_if(loras_.begin(), loras_.end(), [&](const LoadedLora& l) { return l.name == name; });
    if (!engine_ || it == loras_.end()) {
        emit loraLoadFailed(tr("Cannot unload LoRA adapter '%1': no adapter of that name is loaded.").arg(name));
        return;
    }
    try {
        engine_->remove_lora(name.toStdString());
    } catch (const kvscope::Error& e) {
        emit loraLoadFailed(tr("Cannot unload LoRA adapter '%1': %2").arg(name, QString::fromStdString(e.what())));
        return;
    }
    loras_.erase(it);     // the engine kept no reference: its memory goes with this one
    updateServedLoras();  // a request for it now gets 404, as for any unknown model
    emit loraUnloaded(name);
    publishSnapshot(Detail::Full);  // the snapshot's adapters mark it unloaded
}

}  // namespace kvscope::app
