#include "app/server/openai_response.h"

#include <algorithm>
#include <cmath>

#include "app/server/api_error.h"
#include "app/server/vocabulary_json.h"

namespace kvscope::server {
namespace {

// JSON has no -inf: vLLM reports impossible tokens as -9999.
double json_logprob(float lp) {
    return std::isfinite(lp) ? static_cast<double>(lp) : -9999.0;
}

nlohmann::json finish_json(FinishReason reason) {
    if (reason == FinishReason::none) return nullptr;
    return std::string(finish_reason_name(reason));
}

// How logprobs name a token: its piece, or with vLLM's return_tokens_as_token_ids "token_id:<id>"
// (a client that has the vocabulary needs no guessing which token a piece was). Chat's "bytes"
// stay those of the piece.
struct Spelling {
    const Tokenizer& tokenizer;
    bool as_ids = false;

    std::string operator()(std::int32_t id) const {
        return as_ids ? "token_id:" + std::to_string(id) : tokenizer.token_piece(id);
    }
    const std::string& piece(std::int32_t id) const { return tokenizer.token_piece(id); }
};

// The top `num_top` of a scored token's alternatives, and the token itself, which is always there.
nlohmann::json scored_alternatives(const SampleResult& r, std::int32_t num_top, const Spelling& spell) {
    nlohmann::json top = nlohmann::json::object();
    const std::span<const TokenLogprob> alternatives = r.top();
    for (std::size_t k = 0; k < alternatives.size() && k < static_cast<std::size_t>(num_top); ++k) {
        top[spell(alternatives[k].token)] = json_logprob(alternatives[k].logprob);
    }
    top[spell(r.token)] = json_logprob(r.logprob);
    return top;
}

nlohmann::json completion_logprobs(const std::vector<std::int32_t>& tokens, const std::vector<SampleResult>& results,
                                   const std::vector<std::int64_t>& text_offsets, const Spelling& spell) {
    nlohmann::json pieces = nlohmann::json::array(), lps = nlohmann::json::array(), tops = nlohmann::json::array(),
                   offsets = nlohmann::json::array();
    for (std::size_t i = 0; i < results.size() && i < tokens.size() && i < text_offsets.size(); ++i) {
        const SampleResult& r = results[i];
        pieces.push_back(spell(tokens[i]));
        lps.push_back(json_logprob(r.logprob));
        tops.push_back(scored_alternatives(r, r.num_top_logprobs, spell));
        offsets.push_back(text_offsets[i]);
    }
    return {{"tokens", pieces}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
}

// The prompt's part of an echo's completion logprobs: every prompt token, the first unscored.
void add_prompt_logprobs(nlohmann::json& logprobs, const std::vector<std::int32_t>& prompt, bool prompt_is_text,
                         const std::vector<SampleResult>& scored, std::int32_t num_top, const Spelling& spell) {
    nlohmann::json pieces = nlohmann::json::array(), lps = nlohmann::json::array(), tops = nlohmann::json::array(),
                   offsets = nlohmann::json::array();
    TextOffsets offset(spell.tokenizer, prompt_is_text ? TextOffsets::Prompt::text : TextOffsets::Prompt::ids);
    for (std::size_t i = 0; i < prompt.size(); ++i) {
        pieces.push_back(spell(prompt[i]));
        const bool has_score = i > 0 && i - 1 < scored.size();
        lps.push_back(has_score ? nlohmann::json(json_logprob(scored[i - 1].logprob)) : nlohmann::json(nullptr));
        tops.push_back(has_score ? scored_alternatives(scored[i - 1], num_top, spell) : nlohmann::json(nullptr));
        offsets.push_back(offset.push(prompt[i]));
    }
    nlohmann::json prompt_part = {
        {"tokens", pieces}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
    for (auto& [key, part] : prompt_part.items()) {
        nlohmann::json& generated = logprobs[key];
        part.insert(part.end(), generated.begin(), generated.end());
        generated = std::move(part);
    }
}

// vLLM's "prompt_logprobs": null for the first token, then {"<id>": {"logprob", "rank",
// "decoded_token"}} for the prompt token and its top `num_top` alternatives.
nlohmann::json vllm_prompt_logprobs(const std::vector<SampleResult>& scored, std::int32_t num_top,
                                    const Tokenizer& tokenizer) {
    nlohmann::json out = nlohmann::json::array({nullptr});
    for (const SampleResult& r : scored) {
        nlohmann::json entry = nlohmann::json::object();
        const std::span<const TokenLogprob> alternatives = r.top();
        for (std::size_t k = 0; k < alternatives.size() && k < static_cast<std::size_t>(num_top); ++k) {
            const TokenLogprob& t = alternatives[k];
            entry[std::to_string(t.token)] = {{"logprob", json_logprob(t.logprob)},
                                              {"rank", k + 1},
                                              {"decoded_token", tokenizer.token_piece(t.token)}};
        }
        entry[std::to_string(r.token)] = {
            {"logprob", json_logprob(r.logprob)}, {"rank", r.rank}, {"decoded_token", tokenizer.token_piece(r.token)}};
        out.push_back(std::move(entry));
    }
    return out;
}

nlohmann::json chat_logprobs(const std::vector<std::int32_t>& tokens, const std::vector<SampleResult>& results,
                             const Spelling& spell) {
    nlohmann::json content = nlohmann::json::array();
    for (std::size_t i = 0; i < results.size() && i < tokens.size(); ++i) {
        const SampleResult& r = results[i];
        const std::string& piece = spell.piece(tokens[i]);
        nlohmann::json top = nlohmann::json::array();
        for (const TokenLogprob& t : r.top()) {
            top.push_back({{"token", spell(t.token)},
                           {"logprob", json_logprob(t.logprob)},
                           {"bytes", byte_list(spell.piece(t.token))}});
        }
        content.push_back({{"token", spell(tokens[i])},
                           {"logprob", json_logprob(r.logprob)},
                           {"bytes", byte_list(piece)},
                           {"top_logprobs", top}});
    }
    return {{"content", content}};
}

nlohmann::json envelope(const ResponseMeta& meta, const CompletionJob& job, bool chunk) {
    const char* object =
        job.kind == ApiKind::Chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
    return {{"id", meta.id}, {"object", object}, {"created", meta.created}, {"model", meta.model}};
}

}  // namespace

CompletionAccumulator::CompletionAccumulator(const CompletionJob& job, const Tokenizer& tokenizer)
    : n_(job.params.n),
      echo_only_(job.echo_only),
      count_offsets_(job.want_logprobs && job.kind == ApiKind::Completion),
      choices_(job.prompts.size() * static_cast<std::size_t>(job.params.n)),
      prompt_logprobs_(job.prompts.size()) {
    for (std::size_t p = 0; p < job.prompts.size(); ++p) {
        prompt_tokens_ += static_cast<std::int64_t>(job.prompts[p].size());
        for (std::int32_t s = 0; s < n_; ++s) {
            offsets_.emplace_back(tokenizer, job.echo ? count_chars(job.prompt_texts[p]) : 0);
        }
    }
}

std::vector<CompletionAccumulator::Delta> CompletionAccumulator::add(const StreamItem& item) {
    std::vector<Delta> deltas;
    if (item.output.finished) cached_tokens_ += item.output.timings.num_cached_tokens;
    if (!item.output.error.empty()) engine_error_ = item.output.error;
    if (item.prompt_index < prompt_logprobs_.size()) {
        auto& scored = prompt_logprobs_[item.prompt_index];
        scored.insert(scored.end(), item.output.prompt_logprobs.begin(), item.output.prompt_logprobs.end());
    }
    for (const SequenceOutput& s : item.output.samples) {
        const std::size_t index = item.prompt_index * static_cast<std::size_t>(n_) + static_cast<std::size_t>(s.index);
        if (s.index < 0 || s.index >= n_ || index >= choices_.size()) continue;
        ChoiceText& choice = choices_[index];
        if (echo_only_) {  // the prompt alone: only the end counts (max_tokens 0 ends by length)
            if (!s.finished()) continue;
            choice.finish = FinishReason::length;
            Delta d;
            d.choice = index;
            d.finish = FinishReason::length;
            deltas.push_back(std::move(d));
            continue;
        }
        Delta d;
        d.choice = index;
        d.text = s.text_delta;
        d.token_ids = s.new_token_ids;
        d.logprobs = s.logprobs;
        d.finish = s.finish_reason;
        if (count_offsets_) {  // only completions' logprobs show them: no second detokenizer otherwise
            for (const std::int32_t id : s.new_token_ids) d.text_offsets.push_back(offsets_[index].push(id));
        }
        choice.text_offsets.insert(choice.text_offsets.end(), d.text_offsets.begin(), d.text_offsets.end());
        choice.text += s.text_delta;
        choice.token_ids.insert(choice.token_ids.end(), s.new_token_ids.begin(), s.new_token_ids.end());
        choice.logprobs.insert(choice.logprobs.end(), s.logprobs.begin(), s.logprobs.end());
        if (s.finished()) choice.finish = s.finish_reason;
        if (s.stop_string) choice.stop_reason = *s.stop_string;
        if (s.stop_token) choice.stop_reason = *s.stop_token;
        d.stop_reason = choice.stop_reason;
        deltas.push_back(std::move(d));
    }
    return deltas;
}

std::int64_t CompletionAccumulator::completion_tokens() const {
    std::int64_t total = 0;
    for (const ChoiceText& c : choices_) total += static_cast<std::int64_t>(c.token_ids.size());
    return total;
}

nlohmann::json usage_json(std::int64_t prompt_tokens, std::int64_t completion_tokens, std::int64_t cached_tokens) {
    return {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens},
            {"prompt_tokens_details", {{"cached_tokens", cached_tokens}}}};
}

nlohmann::json completion_response(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator& acc,
                                   const Tokenizer& tokenizer) {
    const Spelling spell{tokenizer, job.tokens_as_ids};
    nlohmann::json out = envelope(meta, job, false);
    nlohmann::json choices = nlohmann::json::array();
    const auto n = static_cast<std::size_t>(job.params.n);
    for (std::size_t i = 0; i < acc.choices().size(); ++i) {
        const ChoiceText& c = acc.choices()[i];
        nlohmann::json choice = {{"index", i}, {"logprobs", nullptr}, {"finish_reason", finish_json(c.finish)}};
        if (job.kind == ApiKind::Chat) {
            choice["message"] = {{"role", "assistant"}, {"content", c.text}};
            choice["stop_reason"] = c.stop_reason;  // vLLM's, beside OpenAI's fields
            if (job.want_logprobs) choice["logprobs"] = chat_logprobs(c.token_ids, c.logprobs, spell);
        } else {
            const std::string& prompt = job.prompt_texts[i / n];
            choice["text"] = job.echo ? prompt + c.text : c.text;
            choice["stop_reason"] = c.stop_reason;
            const std::vector<SampleResult>& scored = acc.prompt_logprobs()[i / n];
            if (job.want_logprobs) {
                choice["logprobs"] = completion_logprobs(c.token_ids, c.logprobs, c.text_offsets, spell);
                if (job.echo)
                    add_prompt_logprobs(choice["logprobs"], job.prompts[i / n], job.prompt_is_text[i / n], scored,
                                        *job.params.logprobs, spell);
            }
            if (job.prompt_logprobs)
                choice["prompt_logprobs"] = vllm_prompt_logprobs(scored, *job.prompt_logprobs, tokenizer);
        }
        if (job.return_token_ids) {
            choice["token_ids"] = c.token_ids;
            choice["prompt_token_ids"] = job.prompts[i / n];
        }
        choices.push_back(std::move(choice));
    }
    out["choices"] = std::move(choices);
    out["usage"] = usage_json(acc.prompt_tokens(), acc.completion_tokens(), acc.cached_tokens());
    return out;
}

bool has_first_chunk(const CompletionJob& job) {
    return job.kind == ApiKind::Chat || job.echo || job.prompt_logprobs.has_value();
}

nlohmann::json first_chunk(const ResponseMeta& meta, const CompletionJob& job, std::size_t choice,
                           const CompletionAccumulator& acc, const Tokenizer& tokenizer) {
    const Spelling spell{tokenizer, job.tokens_as_ids};
    nlohmann::json out = envelope(meta, job, true);
    nlohmann::json c = {{"index", choice}, {"logprobs", nullptr}, {"finish_reason", nullptr}};
    if (job.kind == ApiKind::Chat) {
        c["delta"] = {{"role", "assistant"}, {"content", ""}};
    } else {
        const std::size_t prompt = choice / static_cast<std::size_t>(job.params.n);
        const std::vector<SampleResult>& scored = acc.prompt_logprobs()[prompt];
        c["text"] = job.echo ? job.prompt_texts[prompt] : std::string();
        c["stop_reason"] = nullptr;
        if (job.echo && job.want_logprobs) {
            c["logprobs"] = completion_logprobs({}, {}, {}, spell);
            add_prompt_logprobs(c["logprobs"], job.prompts[prompt], job.prompt_is_text[prompt], scored,
                                *job.params.logprobs, spell);
        }
        if (job.prompt_logprobs) c["prompt_logprobs"] = vllm_prompt_logprobs(scored, *job.prompt_logprobs, tokenizer);
    }
    out["choices"] = nlohmann::json::array({c});
    return out;
}

nlohmann::json delta_chunk(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator::Delta& d,
                           const Tokenizer& tokenizer) {
    const Spelling spell{tokenizer, job.tokens_as_ids};
    nlohmann::json out = envelope(meta, job, true);
    nlohmann::json c = {{"index", d.choice}, {"logprobs", nullptr}, {"finish_reason", finish_json(d.finish)}};
    if (job.kind == ApiKind::Chat) {
        c["delta"] = nlohmann::json::object();
        if (!d.text.empty() || d.finish == FinishReason::none) c["delta"]["content"] = d.text;
        if (d.finish != FinishReason::none) c["stop_reason"] = d.stop_reason;
        if (job.want_logprobs) c["logprobs"] = chat_logprobs(d.token_ids, d.logprobs, spell);
    } else {
        c["text"] = d.text;
        c["stop_reason"] = d.stop_reason;
        if (job.want_logprobs) c["logprobs"] = completion_logprobs(d.token_ids, d.logprobs, d.text_offsets, spell);
    }
    if (job.return_token_ids) c["token_ids"] = d.token_ids;
    out["choices"] = nlohmann::json::array({c});
    return out;
}

nlohmann::json usage_chunk(const ResponseMeta& meta, const CompletionJob& job, const CompletionAccumulator& acc) {
    nlohmann::json out = envelope(meta, job, true);
    out["choices"] = nlohmann::json::array();
    out["usage"] = usage_json(acc.prompt_tokens(), acc.completion_tokens(), acc.cached_tokens());
    return out;
}

std::string sse_event(const nlohmann::json& j) {
    return "data: " + dump_json(j) + "\n\n";
}

}  // namespace kvscope::server
