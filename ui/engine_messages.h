#pragma once
// The values that cross between the UI thread and the engine's thread besides engine types:
// commands that carry more than a request (load, chat) and answers to questions (model file
// contents, a block's tokens). Plain values, registered as metatypes for queued signals.

#include <QMetaType>
#include <QString>
#include <QStringList>
#include <QVector>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/config.h"
#include "engine/perplexity.h"
#include "engine/request.h"
#include "engine/sampling_params.h"
#include "engine/snapshot.h"
#include "engine/trace.h"
#include "kernels/tensor_type.h"

namespace kvscope::ui {

// Load a model and build an engine for it.
struct LoadRequest {
    QString source;                        // a .gguf path, or the embedded model's name
    std::optional<TensorType> weightType;  // re-quantise weights at load (F16, Q8_0, Q4_0); nullopt: as stored
    EngineConfig config;
    bool kQuantMedium = false;  // with weightType Q4_K / Q5_K: llama.cpp's _M mixture over it
};

// A chat turn: the engine's thread renders the conversation with the model's chat template,
// tokenises it (special tokens parsed) and adds the template's stop strings and tokens.
struct ChatRequest {
    std::vector<ChatMessage> messages;
    SamplingParams params;
    std::int32_t priority = 0;  // lower is served first (the chat panel puts its turns ahead of batches)
    std::string lora;           // a LoRA adapter loaded onto the model, by name; empty: the base model
};

// Load a LoRA adapter (a GGUF adapter file) onto the loaded model under `name`.
struct LoraLoadRequest {
    QString name;
    QString path;
};

// What a KV block holds now (Engine::block_tokens), decoded.
struct BlockTokens {
    qint32 blockId = -1;
    qint64 step = 0;  // the engine step at which it was read
    std::vector<std::int32_t> tokens;
    QStringList pieces;  // each token's text, special tokens shown
};

// Serve the workbench's engine over HTTP (app/server's OpenAI-compatible server).
struct ServeRequest {
    QString host = QStringLiteral("127.0.0.1");
    int port = 8000;
    QString apiKey;  // empty: no authentication
};

// Follow a server instead of the embedded engine: a kvscope server (everything), or a vLLM or
// llama.cpp server (the charts its /metrics can fill).
struct AttachRequest {
    QString url;  // "http://host:port"
    QString apiKey;
};

// Measure perplexity over a text (the perplexity panel): the engine's thread tokenises it with BOS
// and cuts it into llama-perplexity's chunks; the panel then runs the chunks as requests.
struct PerplexityText {
    quint64 id = 0;   // echoed in the answer
    QByteArray text;  // the file's bytes as they are (tokenised as llama-perplexity reads them)
    PerplexityOptions options;
};

// The answer: the chunks, or why there are none (one line).
struct PerplexityChunks {
    quint64 id = 0;  // the request's
    QString error;
    qint64 numTokens = 0;  // the whole text's
    std::vector<std::vector<std::int32_t>> chunks;
};

struct TensorRow {
    QString name;
    QString type;
    QString shape;  // "64 x 512"
    quint64 bytes = 0;
};

// A GGUF file's header, as `kvscope-cli info` prints it.
struct ModelFileInfo {
    QString source;
    QString error;    // the file could not be read: the reader's one-line message
    QString summary;  // a few lines: model, shape, whether it runs here
    bool runnable = false;
    QString runProblem;                         // why not, when it does not run
    QVector<QPair<QString, QString>> metadata;  // key, value as text
    QVector<TensorRow> tensors;
    QVector<QPair<QString, qint64>> typeCounts;  // tensor type -> tensors of that type
    // What each re-quantisation target would give (estimate_requantization), in menu order.
    struct Requantized {
        QString type;             // "Q4_K", "Q4_K_M"
        quint64 weightBytes = 0;  // every tensor, the converted ones at their new size
        int numConverted = 0;     // 2-D tensors that change type
    };
    quint64 weightBytes = 0;  // every tensor as stored
    int numMatrices = 0;      // 2-D tensors
    QVector<Requantized> requantized;
};

}  // namespace kvscope::ui

// The engine's own types that cross the queued connections between the Session (ui/session.h) and
// the worker (app/bridge/engine_worker.h): declared here, before any signal or spy can use them.
Q_DECLARE_METATYPE(kvscope::EngineConfig)
Q_DECLARE_METATYPE(kvscope::Request)
Q_DECLARE_METATYPE(kvscope::RequestOutput)
Q_DECLARE_METATYPE(std::shared_ptr<const kvscope::EngineSnapshot>)
Q_DECLARE_METATYPE(kvscope::ui::LoadRequest)
Q_DECLARE_METATYPE(kvscope::ui::ChatRequest)
Q_DECLARE_METATYPE(kvscope::ui::LoraLoadRequest)
Q_DECLARE_METATYPE(kvscope::ui::BlockTokens)
Q_DECLARE_METATYPE(kvscope::ui::ModelFileInfo)
Q_DECLARE_METATYPE(kvscope::Trace)  // the session's requests, for the memory lab
Q_DECLARE_METATYPE(kvscope::ui::ServeRequest)
Q_DECLARE_METATYPE(kvscope::ui::AttachRequest)
Q_DECLARE_METATYPE(kvscope::ui::PerplexityText)
Q_DECLARE_METATYPE(kvscope::ui::PerplexityChunks)
Q_DECLARE_METATYPE(kvscope::PerplexityEstimate)  // a perplexity run's running estimate
