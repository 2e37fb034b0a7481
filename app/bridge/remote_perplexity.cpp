#include "app/bridge/remote_perplexity.h"

#include "app/server/perplexity_client.h"
#include "engine/error.h"
#include "engine/perplexity.h"

namespace kvscope::app {

ui::PerplexityChunks remote_perplexity_chunks(httplib::Client& client, const std::string& model,
                                              const ui::PerplexityText& request) {
    ui::PerplexityChunks answer;
    answer.id = request.id;
    try {
        const server::ServerText text = server::tokenize_at_server(
            client, model, std::string_view(request.text.constData(), std::size_t(request.text.size())));
        check_perplexity_context(request.options, text.max_model_len);
        answer.numTokens = qint64(text.tokens.size());
        answer.chunks = perplexity_chunks(text.tokens, text.bos, request.options);
    } catch (const kvscope::Error& e) {
        answer.error = QString::fromStdString(e.what());
    }
    return answer;
}

}  // namespace kvscope::app
