// EngineWorker: a text cut into perplexity chunks with the loaded model's tokenizer (the
// perplexity panel runs the chunks as ordinary requests).

#include "app/bridge/engine_worker.h"
#include "engine/error.h"
#include "engine/perplexity.h"

namespace kvscope::app {

void EngineWorker::preparePerplexity(const kvscope::ui::PerplexityText& request) {
    ui::PerplexityChunks answer;
    answer.id = request.id;
    if (!engine_) {
        answer.error = tr("No model is loaded.");
        emit perplexityPrepared(answer);
        return;
    }
    try {
        check_perplexity_context(request.options, engine_->cache_plan().max_model_len);
        const Tokenizer& tokenizer = engine_->model().tokenizer();
        const std::vector<std::int32_t> tokens =
            tokenizer.encode(std::string_view(request.text.constData(), std::size_t(request.text.size())),
                             /*add_special=*/true, /*parse_special=*/false);
        answer.numTokens = qint64(tokens.size());
        answer.chunks = perplexity_chunks(tokens, tokenizer, request.options);
    } catch (const kvscope::Error& e) {
        answer.error = QString::fromStdString(e.what());
    }
    emit perplexityPrepared(answer);
}

}  // namespace kvscope::app
