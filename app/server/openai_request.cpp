#include "app/server/openai_request.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "app/server/api_error.h"
#include "app/server/json_fields.h"
#include "engine/error.h"

namespace kvscope::server {
namespace {

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kInt64Min = std::numeric_limits<std::int64_t>::min();
constexpr std::size_t kMaxStopStrings = 64;
constexpr std::size_t kMaxStopTokenIds = 1024;

// The tokens one prompt may have here.
std::int32_t prompt_token_limit(const RequestContext& c) {
    const std::int32_t context_limit = std::max(1, c.max_model_len - 1);
    return c.limits.max_prompt_tokens > 0 ? std::min(c.limits.max_prompt_tokens, context_limit) : context_limit;
}

std::int32_t output_token_limit(const RequestContext& c) {
    return c.limits.max_output_tokens > 0 ? std::min(c.limits.max_output_tokens, c.max_model_len) : c.max_model_len;
}

// The LoRA adapter "model" names (empty: the base model, or no "model"); 404 for another name.
std::string check_model(const JsonFields& f, const RequestContext& c) {
    const std::optional<std::string> model = f.string("model");
    if (!model || *model == c.served_model_name) return "";
    if (std::find(c.lora_names.begin(), c.lora_names.end(), *model) != c.lora_names.end()) return *model;
    std::string served = "'" + c.served_model_name + "'";
    for (const std::string& name : c.lora_names) served += ", '" + name + "'";
    throw ApiError(404,
                   "the model '" + *model + "' does not exist here; this server serves " + served +
                       " (see GET /v1/models)",
                   "model", "model_not_found");
}

void refuse_unsupported(const JsonFields& f, std::int32_t n) {
    if (const nlohmann::json* tools = f.find("tools"); tools && !(tools->is_array() && tools->empty())) {
        throw bad_field("tools", "tool calling is not supported by this server; leave 'tools' out", "unsupported");
    }
    if (const nlohmann::json* suffix = f.find("suffix"); suffix && !(suffix->is_string() && suffix->empty())) {
        throw bad_field("suffix", "'suffix' (insertion) is not supported; leave it out", "unsupported");
    }
    if (const auto best_of = f.integer("best_of", 1, 1 << 20); best_of && *best_of != n) {
        throw bad_field("best_of", "'best_of' other than n is not supported; leave it out", "unsupported");
    }
    if (const nlohmann::json* format = f.find("response_format")) {
        const bool text = format->is_object() && format->value("type", std::string()) == "text";
        if (!text) throw bad_field("response_format", "only {\"type\": \"text\"} is supported", "unsupported");
    }
    // Sampling controls of OpenAI's and vLLM's APIs that this engine does not apply: refused
    // rather than accepted and ignored (an empty value, as some clients send by default, is fine).
    for (const char* key : {"logit_bias", "min_tokens", "allowed_token_ids", "bad_words", "guided_json", "guided_regex",
                            "guided_choice", "guided_grammar", "structured_outputs", "tool_choice"}) {
        const nlohmann::json* v = f.find(key);
        const bool empty = !v || (v->is_object() && v->empty()) || (v->is_array() && v->empty()) ||
                           (v->is_number_integer() && v->get<std::int64_t>() == 0) ||
                           (v->is_string() && (v->get<std::string>().empty() || v->get<std::string>() == "none"));
        if (!empty) {
            throw bad_field(key, std::string("'") + key + "' is not supported by this server; leave it out",
                            "unsupported");
        }
    }
}

// Fields common to both endpoints. `max_tokens` is read by the caller (its default differs).
void read_sampling(const JsonFields& f, const RequestContext& c, CompletionJob& job) {
    SamplingParams& p = job.params;
    if (auto v = f.integer("n", 1, c.limits.max_n)) p.n = static_cast<std::int32_t>(*v);
    if (auto v = f.number("temperature", 0.0, 1e6)) p.temperature = *v;
    if (auto v = f.number("top_p", 1e-9, 1.0)) p.top_p = *v;
    if (auto v = f.integer("top_k", -1, std::numeric_limits<std::int32_t>::max()))
        p.top_k = static_cast<std::int32_t>(*v);
    if (auto v = f.number("min_p", 0.0, 1.0)) p.min_p = *v;
    if (auto v = f.number("presence_penalty", -2.0, 2.0)) p.presence_penalty = *v;
    if (auto v = f.number("frequency_penalty", -2.0, 2.0)) p.frequency_penalty = *v;
    if (auto v = f.number("repetition_penalty", 1e-6, 1e6)) p.repetition_penalty = *v;
    if (auto v = f.boolean("ignore_eos")) p.ignore_eos = *v;
    if (auto v = f.boolean("include_stop_str_in_output")) p.include_stop_str_in_output = *v;
    if (const nlohmann::json* seed = f.find("seed")) {
        // vLLM: -1 is "no seed"; other negative seeds are their two's-complement value.
        if (seed->is_number_unsigned()) {
            p.seed = seed->get<std::uint64_t>();
        } else if (const auto s = f.integer("seed", kInt64Min, kInt64Max); s && *s != -1) {
            p.seed = static_cast<std::uint64_t>(*s);
        }
    }
    if (auto stop = f.strings("stop", kMaxStopStrings)) {
        for (const std::string& s : *stop) {
            if (s.empty()) throw bad_field("stop", "stop strings must not be empty");
        }
        p.stop = std::move(*stop);
    }
    const std::int32_t vocab = c.model->shape().vocab_size;
    if (auto ids = f.integers("stop_token_ids", 0, vocab - 1, kMaxStopTokenIds)) {
        for (std::int64_t id : *ids) p.stop_token_ids.push_back(static_cast<std::int32_t>(id));
    }
    if (auto v =
            f.integer("priority", std::numeric_limits<std::int32_t>::min(), std::numeric_limits<std::int32_t>::max())) {
        job.priority = static_cast<std::int32_t>(*v);
    }
    if (auto v = f.boolean("stream")) job.stream = *v;
    if (auto v = f.boolean("return_token_ids")) job.return_token_ids = *v;
    if (auto v = f.boolean("return_tokens_as_token_ids")) job.tokens_as_ids = *v;
    if (const nlohmann::json* options = f.find("stream_options")) {
        if (!options->is_object())
            throw bad_field("stream_options", "'stream_options' must be an object", "invalid_type");
        if (!job.stream) throw bad_field("stream_options", "'stream_options' needs \"stream\": true");
        if (auto v = JsonFields(*options).boolean("include_usage")) job.include_usage = *v;
    }
}

// max_tokens against the context: the prompt and the output must fit.
void check_lengths(const RequestContext& c, CompletionJob& job, std::optional<std::int64_t> max_tokens,
                   std::int32_t default_max_tokens, const std::string& max_tokens_field,
                   const std::string& prompt_field) {
    std::int32_t longest = 0;
    for (const auto& prompt : job.prompts) longest = std::max(longest, static_cast<std::int32_t>(prompt.size()));
    const std::int32_t prompt_limit = prompt_token_limit(c);
    if (longest > prompt_limit) {
        throw bad_field(prompt_field,
                        "the prompt has " + std::to_string(longest) + " tokens but at most " +
                            std::to_string(prompt_limit) + " are allowed (context " + std::to_string(c.max_model_len) +
                            " tokens); shorten the prompt",
                        "context_length_exceeded");
    }
    const std::int32_t room = c.max_model_len - longest;
    job.params.max_tokens =
        max_tokens ? static_cast<std::int32_t>(*max_tokens) : std::max(1, std::min(default_max_tokens, room));
    if (job.params.max_tokens > output_token_limit(c)) {
        throw bad_field(max_tokens_field, "'" + max_tokens_field + "' is " + std::to_string(job.params.max_tokens) +
                                              "; at most " + std::to_string(output_token_limit(c)) + " are allowed");
    }
    if (job.params.max_tokens > room) {
        throw bad_field(max_tokens_field,
                        "the context holds " + std::to_string(c.max_model_len) + " tokens, but the request asks for " +
                            std::to_string(longest + job.params.max_tokens) + " (" + std::to_string(longest) +
                            " in the prompt, " + std::to_string(job.params.max_tokens) +
                            " to generate); lower max_tokens or shorten the prompt",
                        "context_length_exceeded");
    }
}

void validate_params(const CompletionJob& job, const RequestContext& c) {
    try {
        job.params.validate(c.model->shape().vocab_size);
    } catch (const ConfigError& e) {
        throw ApiError(400, e.what());
    }
}

// The ids of a JSON list in `field`, each in the vocabulary; `holder` and `noun` name them in
// errors ("a token-id prompt must hold only integers", "prompt token id 9999 is outside ...").
std::vector<std::int32_t> token_ids(const nlohmann::json& list, const RequestContext& c, const std::string& field,
                                    const std::string& holder, const std::string& noun) {
    const std::int32_t vocab = c.model->shape().vocab_size;
    std::vector<std::int32_t> ids;
    ids.reserve(list.size());
    for (const nlohmann::json& t : list) {
        if (!t.is_number_integer())
            throw bad_field(field, holder + " must hold only integers, got " + json_type_name(t), "invalid_type");
        const bool huge = t.is_number_unsigned() && t.get<std::uint64_t>() >= static_cast<std::uint64_t>(vocab);
        const std::int64_t id = huge ? vocab : t.get<std::int64_t>();
        if (id < 0 || id >= vocab) {
            throw bad_field(
                field, noun + " " + t.dump() + " is outside the vocabulary [0, " + std::to_string(vocab - 1) + "]");
        }
        ids.push_back(static_cast<std::int32_t>(id));
    }
    return ids;
}

void read_prompts(const nlohmann::json* prompt, const RequestContext& c, CompletionJob& job) {
    if (!prompt) throw bad_field("prompt", "'prompt' is required: a string or a list of token ids", "missing");
    const Tokenizer& tokenizer = c.model->tokenizer();
    const auto add_text = [&](const std::string& text) {
        job.prompt_texts.push_back(text);
        job.prompt_is_text.push_back(true);
        // Special-token texts ("<|im_start|>") are those tokens, as in vLLM's and llama.cpp's
        // servers: a client may render its own chat template.
        job.prompts.push_back(tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/true));
        if (job.prompts.back().empty()) throw bad_field("prompt", "the prompt is empty; give some text");
    };
    const auto add_ids = [&](const nlohmann::json& list) {
        job.prompts.push_back(token_ids(list, c, "prompt", "a token-id prompt", "prompt token id"));
        if (job.prompts.back().empty()) throw bad_field("prompt", "the prompt is empty; give at least one token");
        std::string text = tokenizer.decode(job.prompts.back(), /*skip_special=*/true);
        if (tokenizer.add_space_prefix() && !text.empty() && text.front() == ' ') text.erase(0, 1);
        job.prompt_texts.push_back(std::move(text));
        job.prompt_is_text.push_back(false);
    };
    if (prompt->is_string()) return add_text(prompt->get<std::string>());
    if (!prompt->is_array()) {
        throw bad_field("prompt", "'prompt' must be a string or a list of token ids, got " + json_type_name(*prompt),
                        "invalid_type");
    }
    if (prompt->empty()) throw bad_field("prompt", "'prompt' is an empty list; give a string or token ids");
    if (!prompt->front().is_string() && !prompt->front().is_array()) return add_ids(*prompt);
    if (prompt->size() > static_cast<std::size_t>(c.limits.max_prompts)) {
        throw bad_field("prompt", "the request has " + std::to_string(prompt->size()) + " prompts; at most " +
                                      std::to_string(c.limits.max_prompts) + " are allowed");
    }
    for (const nlohmann::json& p : *prompt) {
        if (p.is_string()) {
            add_text(p.get<std::string>());
        } else if (p.is_array()) {
            add_ids(p);
        } else {
            throw bad_field("prompt", "a list of prompts must hold strings or token-id lists, got " + json_type_name(p),
                            "invalid_type");
        }
    }
}

std::vector<ChatMessage> read_messages(const JsonFields& f) {
    const nlohmann::json* messages = f.find("messages");
    if (!messages) throw bad_field("messages", "'messages' is required: a list of {\"role\", \"content\"}", "missing");
    if (!messages->is_array() || messages->empty()) {
        throw bad_field("messages", "'messages' must be a non-empty list of {\"role\", \"content\"} objects",
                        "invalid_type");
    }
    std::vector<ChatMessage> out;
    for (const nlohmann::json& m : *messages) {
        if (!m.is_object())
            throw bad_field("messages", "each message must be an object, got " + json_type_name(m), "invalid_type");
        const JsonFields mf(m);
        const std::optional<std::string> role = mf.string("role");
        if (!role || role->empty()) throw bad_field("messages", "each message needs a string 'role'", "missing");
        ChatMessage message{*role, {}};
        if (const nlohmann::json* content = mf.find("content")) {
            if (content->is_string()) {
                message.content = content->get<std::string>();
            } else if (content->is_array()) {
                for (const nlohmann::json& part : *content) {
                    if (!part.is_object() || part.value("type", std::string()) != "text" || !part.contains("text") ||
                        !part["text"].is_string()) {
                        throw bad_field("messages",
                                        "only text content parts ({\"type\": \"text\", \"text\": ...}) are supported",
                                        "unsupported");
                    }
                    message.content += part["text"].get<std::string>();
                }
            } else {
                throw bad_field(
                    "messages",
                    "a message's 'content' must be a string or a list of text parts, got " + json_type_name(*content),
                    "invalid_type");
            }
        }
        out.push_back(std::move(message));
    }
    return out;
}

}  // namespace

nlohmann::json parse_json_body(const std::string& body) {
    nlohmann::json j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) {
        throw ApiError(400, "the request body is not valid JSON; send a JSON object", "", "invalid_json");
    }
    if (!j.is_object()) {
        throw ApiError(400, "the request body must be a JSON object, got " + json_type_name(j), "", "invalid_json");
    }
    return j;
}

CompletionJob parse_completion_request(const nlohmann::json& body, const RequestContext& c) {
    const JsonFields f(body);
    CompletionJob job;
    job.lora = check_model(f, c);
    job.kind = ApiKind::Completion;
    read_sampling(f, c, job);
    refuse_unsupported(f, job.params.n);
    if (auto v = f.boolean("echo")) job.echo = *v;
    if (auto v = f.integer("logprobs", 0, kMaxLogprobs)) {
        job.want_logprobs = true;
        job.params.logprobs = static_cast<std::int32_t>(*v);
    }
    // Prompt logprobs: vLLM's "prompt_logprobs" field, and the prompt's part of an echo's logprobs.
    // The engine computes one count of alternatives; each part is cut to its own on the way out.
    if (auto v = f.integer("prompt_logprobs", 0, kMaxLogprobs)) job.prompt_logprobs = static_cast<std::int32_t>(*v);
    std::int32_t prompt_top = job.prompt_logprobs.value_or(-1);
    if (job.echo && job.params.logprobs) prompt_top = std::max(prompt_top, *job.params.logprobs);
    if (prompt_top >= 0) job.params.prompt_logprobs = prompt_top;
    // max_tokens 0 with echo: the prompt alone, scored (as lm-eval's loglikelihood asks).
    auto max_tokens = f.integer("max_tokens", job.echo ? 0 : 1, std::numeric_limits<std::int32_t>::max());
    if (max_tokens == 0) {
        job.echo_only = true;
        max_tokens = 1;  // the engine samples one token; the response leaves it out
    }
    read_prompts(f.find("prompt"), c, job);
    check_lengths(c, job, max_tokens, 16, "max_tokens", "prompt");
    validate_params(job, c);
    return job;
}

CompletionJob parse_chat_request(const nlohmann::json& body, const RequestContext& c) {
    const JsonFields f(body);
    CompletionJob job;
    job.lora = check_model(f, c);
    job.kind = ApiKind::Chat;
    read_sampling(f, c, job);
    refuse_unsupported(f, job.params.n);
    if (const nlohmann::json* v = f.find("prompt_logprobs"); v && !v->is_null()) {
        throw bad_field("prompt_logprobs",
                        "'prompt_logprobs' is served on /v1/completions only; score the prompt there", "unsupported");
    }
    const bool logprobs = f.boolean("logprobs").value_or(false);
    const auto top = f.integer("top_logprobs", 0, kMaxLogprobs);
    if (top && !logprobs) throw bad_field("top_logprobs", "'top_logprobs' needs \"logprobs\": true");
    if (logprobs) {
        job.want_logprobs = true;
        job.params.logprobs = static_cast<std::int32_t>(top.value_or(0));
    }
    const std::string max_field = f.find("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
    const auto max_tokens = f.integer(max_field, 1, std::numeric_limits<std::int32_t>::max());
    const bool generation_prompt = f.boolean("add_generation_prompt").value_or(true);

    const std::vector<ChatMessage> messages = read_messages(f);
    const Tokenizer& tokenizer = c.model->tokenizer();
    const ChatTemplate& chat = c.model->chat_template();
    const std::string text = chat.apply(messages, generation_prompt);
    job.prompt_texts.push_back(text);
    job.prompt_is_text.push_back(true);
    job.prompts.push_back(tokenizer.encode(text, /*add_special=*/true, /*parse_special=*/true));
    if (job.prompts.back().empty()) throw bad_field("messages", "the conversation renders to no tokens");
    for (std::int32_t id : chat.stop_tokens(tokenizer)) {
        if (std::find(job.params.stop_token_ids.begin(), job.params.stop_token_ids.end(), id) ==
            job.params.stop_token_ids.end()) {
            job.params.stop_token_ids.push_back(id);
        }
    }
    check_lengths(c, job, max_tokens, output_token_limit(c), max_field, "messages");
    validate_params(job, c);
    return job;
}

TokenizeJob parse_tokenize_request(const nlohmann::json& body, const RequestContext& c) {
    const JsonFields f(body);
    check_model(f, c);
    TokenizeJob job;
    job.return_token_strs = f.boolean("return_token_strs").value_or(false);
    const bool add_special = f.boolean("add_special_tokens").value_or(true);
    const Tokenizer& tokenizer = c.model->tokenizer();
    const bool has_prompt = f.find("prompt") != nullptr;
    const bool has_messages = f.find("messages") != nullptr;
    if (has_prompt == has_messages) {
        throw bad_field(has_prompt ? "messages" : "prompt",
                        "give either 'prompt' (a string) or 'messages' (a conversation), not both or neither",
                        has_prompt ? "invalid_value" : "missing");
    }
    if (has_prompt) {
        const std::optional<std::string> prompt = f.string("prompt");
        if (!prompt) throw bad_field("prompt", "'prompt' must be a string", "invalid_type");
        job.tokens = tokenizer.encode(*prompt, add_special, /*parse_special=*/true);  // as completions
        return job;
    }
    if (f.boolean("continue_final_message").value_or(false)) {
        throw bad_field("continue_final_message", "continuing the final message is not supported; leave it out",
                        "unsupported");
    }
    const bool generation_prompt = f.boolean("add_generation_prompt").value_or(true);
    const std::string text = c.model->chat_template().apply(read_messages(f), generation_prompt);
    job.tokens = tokenizer.encode(text, add_special, /*parse_special=*/true);
    return job;
}

std::vector<std::int32_t> parse_detokenize_request(const nlohmann::json& body, const RequestContext& c) {
    const JsonFields f(body);
    check_model(f, c);
    const nlohmann::json* tokens = f.find("tokens");
    if (!tokens) throw bad_field("tokens", "'tokens' is required: a list of token ids", "missing");
    if (!tokens->is_array()) {
        throw bad_field("tokens", "'tokens' must be a list of token ids, got " + json_type_name(*tokens),
                        "invalid_type");
    }
    return token_ids(*tokens, c, "tokens", "'tokens'", "token id");
}

}  // namespace kvscope::server
