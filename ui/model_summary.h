#pragma once
// What the workbench shows about the loaded model and its engine: a plain value, made by the
// engine's thread when a load succeeds.

#include <QMetaType>
#include <QString>
#include <QVector>
#include <memory>
#include <optional>

#include "engine/config.h"
#include "kernels/tensor_type.h"
#include "ui/token_vocabulary.h"

namespace kvscope::ui {

// A LoRA adapter loaded onto the model: requests (a chat turn) pick it by name.
struct LoraSummary {
    QString name;
    QString source;  // the adapter file
    qint32 rank = 0;
    double alpha = 0;
    qint32 numPairs = 0;  // adapted weight matrices
};

struct ModelSummary {
    QString source;  // path, or the embedded model's name
    QString name;
    QString architecture;
    QString backend;
    QString backendNote;   // why the CPU runs when CUDA was asked for (empty otherwise)
    QString weightType;    // the type of most weight bytes as stored ("F32", "Q4_K")
    QString chatTemplate;  // "plain", "chatml", ...
    std::optional<TensorType> requantizedTo;
    QString requantizedName;    // "Q4_K", "Q4_K_M" (the mixture over requantizedTo); empty: as stored
    qint32 numRequantized = 0;  // weights converted at load
    qint64 numParams = 0;
    qint32 numLayers = 0;
    qint32 numBlocks = 0;
    qint32 blockSize = 0;
    qint64 blockBytes = 0;  // one block, all layers, K and V
    qint32 contextLength = 0;
    qint32 vocabSize = 0;
    qint32 bosId = -1;        // -1: none (synthetic prompts then start without one)
    qint32 firstTokenId = 0;  // first ordinary (non-special, non-byte) token: synthetic prompts draw from here
    EngineConfig config;      // what the engine runs with
    // The LoRA adapters loaded onto it, in the order loaded.
    QVector<LoraSummary> loras;
    // Attached to a server (source: its URL): "kvscope", "vLLM" or "llama.cpp"; empty: the embedded engine.
    QString remoteKind;
    // Each token's bytes, for the chat's token probabilities; null when attached to a server.
    std::shared_ptr<const TokenVocabulary> vocabulary;
    bool hasBlockState() const { return remoteKind.isEmpty() || remoteKind == QStringLiteral("kvscope"); }
};

// "Q8_0 (re-quantised from F32)" or "F32".
QString weightDescription(const ModelSummary& summary);
// A tensor type's name ("F32", "Q8_0") as text.
QString tensorTypeText(TensorType type);

}  // namespace kvscope::ui

Q_DECLARE_METATYPE(kvscope::ui::ModelSummary)
Q_DECLARE_METATYPE(kvscope::ui::LoraSummary)
