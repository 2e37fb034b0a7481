#include "app/bridge/remote_perplexity.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "engine/error.h"
#include "engine/perplexity.h"

namespace kvscope::app {
namespace {

struct Tokenized {
    std::vector<std::int32_t> tokens;
    std::int32_t max_model_len = 0;
};

// POST /tokenize; nullopt and `error` set when that fails.
std::optional<Tokenized> tokenize(httplib::Client& client, const std::string& model, const std::string& text,
                                  std::string& error) {
    nlohmann::json body{{"prompt", text}, {"add_special_tokens", true}};
    if (!model.empty()) body["model"] = model;
    // Bytes that are not UTF-8 go as U+FFFD: JSON carries text only.
    const std::string payload = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    const httplib::Result res = client.Post("/tokenize", payload, "application/json");
    if (!res) {
        error = "/tokenize: " + describe(res.error());
        return std::nullopt;
    }
    if (res->status == 404) {
        error = "the server has no /tokenize (perplexity needs a kvscope or vLLM server)";
        return std::nullopt;
    }
    if (res->status != 200) {
        error = "/tokenize: " + error_message(res->status, res->body);
        return std::nullopt;
    }
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, false);
    if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
        error = "/tokenize answered without a list of tokens";
        return std::nullopt;
    }
    Tokenized t;
    for (const nlohmann::json& id : j["tokens"]) {
        if (!id.is_number_integer()) {
            error = "/tokenize answered a token that is not an integer: " + id.dump();
            return std::nullopt;
        }
        t.tokens.push_back(id.get<std::int32_t>());
    }
    t.max_model_len = j.value("max_model_len", 0);
    return t;
}

}  // namespace

ui::PerplexityChunks remote_perplexity_chunks(const RemoteEndpoint& endpoint, const std::string& model,
                                              const ui::PerplexityText& request, int read_s) {
    ui::PerplexityChunks answer;
    answer.id = request.id;
    const std::unique_ptr<httplib::Client> client = make_client(endpoint, 2, read_s);
    std::string error;
    const std::optional<Tokenized> empty = tokenize(*client, model, "", error);
    const std::optional<Tokenized> text =
        empty ? tokenize(*client, model, std::string(request.text.constData(), std::size_t(request.text.size())), error)
              : std::nullopt;
    if (!text) {
        answer.error = QString::fromStdString(error);
        return answer;
    }
    if (text->max_model_len <= 0) {
        answer.error = QStringLiteral("/tokenize did not say the server's max_model_len");
        return answer;
    }
    try {
        check_perplexity_context(request.options, text->max_model_len);
        const std::optional<std::int32_t> bos =
            empty->tokens.size() == 1 ? std::optional(empty->tokens.front()) : std::nullopt;
        answer.numTokens = qint64(text->tokens.size());
        answer.chunks = perplexity_chunks(text->tokens, bos, request.options);
    } catch (const kvscope::Error& e) {
        answer.error = QString::fromStdString(e.what());
    }
    return answer;
}

}  // namespace kvscope::app
