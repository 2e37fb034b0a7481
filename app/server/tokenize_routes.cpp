// POST /tokenize and /detokenize, as vLLM's server has them: the tokens this server would run for
// a prompt or a conversation (what a client needs to cut a text into chunks of a context, or to
// count a prompt against max_model_len before sending it), and the text of token ids; and
// kvscope's GET /v1/kv/vocabulary, every token's bytes (vocabulary_json.h). They touch only the
// tokenizer, never the engine thread.

#include "app/server/server_impl.h"
#include "app/server/vocabulary_json.h"

namespace kvscope::server {

RequestContext HttpServer::Impl::context_now() const {
    RequestContext c = context;  // with the adapters served at this moment
    for (const ServedLora& lora : host.loras()) c.lora_names.push_back(lora.name);
    return c;
}

void HttpServer::Impl::handle_tokenize(const httplib::Request& req, httplib::Response& res) {
    const TokenizeJob job = parse_tokenize_request(parse_json_body(req.body), context_now());
    nlohmann::json body = {{"count", job.tokens.size()},
                           {"max_model_len", context.max_model_len},
                           {"tokens", job.tokens},
                           {"token_strs", nullptr}};
    if (job.return_token_strs) {
        const Tokenizer& tokenizer = context.model->tokenizer();
        nlohmann::json strs = nlohmann::json::array();
        for (std::int32_t id : job.tokens) strs.push_back(tokenizer.token_text(id));
        body["token_strs"] = std::move(strs);
    }
    send_json(res, body);
}

void HttpServer::Impl::handle_detokenize(const httplib::Request& req, httplib::Response& res) {
    const std::vector<std::int32_t> ids = parse_detokenize_request(parse_json_body(req.body), context_now());
    const Tokenizer& tokenizer = context.model->tokenizer();
    std::string text = tokenizer.decode(ids, /*skip_special=*/false);
    if (tokenizer.add_space_prefix() && !text.empty() && text.front() == ' ') text.erase(0, 1);
    send_json(res, {{"prompt", std::move(text)}});
}

void HttpServer::Impl::handle_vocabulary(httplib::Response& res) {
    send_json(res, vocabulary_json(vocabulary_pieces(context.model->tokenizer()), options.served_model_name));
}

}  // namespace kvscope::server
