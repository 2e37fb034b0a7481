#include "app/bridge/model_info.h"

#include <QObject>
#include <map>

#include "app/server/model_card.h"
#include "app/server/vocabulary_json.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model_config.h"
#include "engine/requantization.h"
#include "resources/embedded_model.h"

namespace kvscope::app {
namespace {

QString qs(std::string_view s) {
    return QString::fromUtf8(s.data(), qsizetype(s.size()));
}

QString shapeText(const std::vector<std::int64_t>& shape) {
    QStringList parts;
    for (const std::int64_t d : shape) parts << QString::number(d);
    return parts.join(QStringLiteral(" x "));
}

QString configText(const ModelConfig& c) {
    const ModelShape& s = c.shape;
    return QObject::tr(
               "%1 (%2), %3M parameters, mostly %4\n"
               "%5 layers, embedding %6, feed-forward %7, heads %8 (kv %9), vocabulary %10, context %11")
        .arg(qs(c.name), qs(c.architecture_name))
        .arg(double(c.num_params) / 1e6, 0, 'f', 1)
        .arg(qs(type_name(c.weight_type)) +
             (c.file_type.empty() ? QString() : QObject::tr(" (file type %1)").arg(qs(c.file_type))))
        .arg(s.num_layers)
        .arg(s.dim)
        .arg(s.ffn_dim)
        .arg(s.num_heads)
        .arg(s.num_kv_heads)
        .arg(s.vocab_size)
        .arg(s.max_context);
}

}  // namespace

ui::ModelFileInfo readModelFileInfo(const QString& source) {
    ui::ModelFileInfo info;
    info.source = source;
    try {
        const std::string path = source.toStdString();
        const GgufFile file = path.empty() || path == kEmbeddedModelName
                                  ? GgufFile::from_memory(embedded_model_bytes(), std::string(kEmbeddedModelName))
                                  : GgufFile::open(path);
        try {
            info.summary = configText(read_model_config(file));
            info.runnable = true;
        } catch (const ModelError& e) {
            info.runProblem = QString::fromStdString(e.what());
        }
        for (const auto& [key, value] : file.metadata())
            info.metadata.append({qs(key), QString::fromStdString(value.to_display_string(8))});
        std::map<std::string, qint64> counts;
        for (const GgufTensorInfo& t : file.tensors()) {
            info.tensors.append({qs(t.name), qs(type_name(t.type)), shapeText(t.shape), t.num_bytes});
            ++counts[std::string(type_name(t.type))];
        }
        for (const auto& [type, count] : counts) info.typeCounts.append({qs(type), count});
        for (const TensorType target : requantization_targets()) {
            const RequantizationEstimate e = estimate_requantization(file, target);
            info.requantized.append({qs(type_name(target)), e.weight_bytes, e.num_converted});
            info.numMatrices = e.num_matrices;
        }
        for (const TensorType base : {TensorType::Q4_K, TensorType::Q5_K}) {  // llama.cpp's _M mixtures
            const RequantizationEstimate e = estimate_requantization(file, base, /*k_quant_medium=*/true);
            info.requantized.append(
                {QString::fromStdString(WeightConversion{base, true}.name()), e.weight_bytes, e.num_converted});
        }
        for (const GgufTensorInfo& t : file.tensors()) info.weightBytes += t.num_bytes;
    } catch (const Error& e) {
        info.error = QString::fromStdString(e.what());
    }
    return info;
}

QString modelDisplayName(const QString& source, const ModelConfig& c) {
    const QString name = QString::fromStdString(c.name);
    if (!name.isEmpty() && name != QString::fromStdString(c.architecture_name)) return name;
    // A generic name ("llama"): the file's says more (the embedded one: "stories260K").
    return source.section(QLatin1Char('/'), -1).section(QLatin1Char(':'), -1).section(QLatin1Char('.'), 0, 0);
}

std::shared_ptr<const ui::TokenVocabulary> tokenVocabulary(const Tokenizer& tokenizer) {
    server::VocabularyPieces v = server::vocabulary_pieces(tokenizer);
    return std::make_shared<const ui::TokenVocabulary>(std::move(v.pieces), std::move(v.special));
}

ui::ModelSummary summarize(const QString& source, const Engine& engine) {
    const Model& model = engine.model();
    const ModelConfig& c = model.config();
    ui::ModelSummary s;
    s.source = source;
    s.name = modelDisplayName(source, c);
    s.architecture = QString::fromStdString(c.architecture_name);
    s.backend = QString::fromStdString(engine.backend_name());
    s.backendNote = QString::fromStdString(engine.backend_note());
    s.weightType = qs(type_name(c.weight_type));
    s.chatTemplate = qs(model.chat_template().name());
    s.requantizedTo = model.requantized_to();
    s.requantizedName = QString::fromStdString(model.requantized_name());
    s.numRequantized = model.num_requantized_weights();
    s.numParams = c.num_params;
    s.numLayers = model.shape().num_layers;
    s.numBlocks = engine.cache_plan().num_blocks;
    s.blockSize = engine.config().block_size;
    s.blockBytes = qint64(engine.cache_plan().block_bytes);
    s.contextLength = engine.cache_plan().max_model_len;
    s.vocabSize = model.shape().vocab_size;
    s.bosId = model.tokenizer().add_bos() ? model.tokenizer().bos_id() : -1;
    s.firstTokenId = server::first_ordinary_token(model.tokenizer());
    s.config = engine.config();
    return s;
}

}  // namespace kvscope::app
