#include "app/server/chat_logprobs_reader.h"

#include <algorithm>
#include <charconv>

namespace kvscope::server {
namespace {

constexpr std::string_view kPrefix = "token_id:";

}  // namespace

std::optional<std::int32_t> token_id_of(const nlohmann::json& token) {
    if (!token.is_string()) return std::nullopt;
    const std::string& s = token.get_ref<const std::string&>();
    if (s.size() <= kPrefix.size() || s.compare(0, kPrefix.size(), kPrefix) != 0) return std::nullopt;
    std::int32_t id = -1;
    const char* first = s.data() + kPrefix.size();
    const char* last = s.data() + s.size();
    const auto [end, ec] = std::from_chars(first, last, id);
    if (ec != std::errc() || end != last || id < 0) return std::nullopt;
    return id;
}

namespace {

// {"token": "token_id:<id>", "logprob": x} -> (id, x); nullopt for anything else. JSON has no
// -inf: servers send -9999 (vLLM's floor) for a token the model rules out.
std::optional<TokenLogprob> token_logprob_of(const nlohmann::json& entry) {
    if (!entry.is_object() || !entry.contains("token") || !entry.contains("logprob") || !entry["logprob"].is_number())
        return std::nullopt;
    const std::optional<std::int32_t> id = token_id_of(entry["token"]);
    if (!id) return std::nullopt;
    return TokenLogprob{*id, entry["logprob"].get<float>()};
}

}  // namespace

std::optional<std::vector<SampleResult>> chat_logprobs_from_json(const nlohmann::json& content, std::string& error) {
    if (!content.is_array()) {
        error = "the logprobs' \"content\" is not a list";
        return std::nullopt;
    }
    std::vector<SampleResult> out;
    out.reserve(content.size());
    for (const nlohmann::json& entry : content) {
        const std::string where = "logprobs entry " + std::to_string(out.size());
        const std::optional<TokenLogprob> chosen = token_logprob_of(entry);
        if (!chosen) {
            error = where +
                    " has no \"token\": \"token_id:<id>\" with a numeric \"logprob\" (a server without "
                    "return_tokens_as_token_ids)";
            return std::nullopt;
        }
        SampleResult r;
        r.token = chosen->token;
        r.logprob = chosen->logprob;
        if (entry.contains("top_logprobs") && entry["top_logprobs"].is_array()) {
            for (const nlohmann::json& alt : entry["top_logprobs"]) {
                const std::optional<TokenLogprob> t = token_logprob_of(alt);
                if (!t) {
                    error = where + " has an alternative that is no \"token_id:<id>\" with a numeric \"logprob\"";
                    return std::nullopt;
                }
                if (r.num_top_logprobs == kMaxLogprobs) break;
                r.top_logprobs[static_cast<std::size_t>(r.num_top_logprobs++)] = *t;
            }
        }
        // The rank the engine gives (the tokens at least as likely as this one) when the token is
        // among the alternatives, which then hold every token more likely than it.
        const std::span<const TokenLogprob> top = r.top();
        if (std::any_of(top.begin(), top.end(), [&](const TokenLogprob& t) { return t.token == r.token; })) {
            r.rank = static_cast<std::int32_t>(
                std::count_if(top.begin(), top.end(), [&](const TokenLogprob& t) { return t.logprob >= r.logprob; }));
        }
        out.push_back(r);
    }
    return out;
}

}  // namespace kvscope::server
