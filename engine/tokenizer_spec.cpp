// Checking a TokenizerSpec, and llama.cpp's conventions for special tokens.

#include <algorithm>
#include <string>

#include "engine/error.h"
#include "engine/tokenizer.h"

namespace kvscope {

namespace {

[[noreturn]] void fail(std::string_view source, const std::string& what) {
    throw ModelError(std::string(source) + ": " + what);
}

void check_token_id(std::string_view source, std::string_view key, std::int64_t id, std::size_t num_tokens) {
    if (id >= -1 && id < static_cast<std::int64_t>(num_tokens)) return;
    fail(source, std::string(key) + " = " + std::to_string(id) + " is outside the vocabulary of " +
                     std::to_string(num_tokens) + " tokens; the file is inconsistent, re-convert the model");
}

void check_length(std::string_view source, std::string_view key, std::size_t length, std::size_t num_tokens) {
    if (length == 0 || length == num_tokens) return;
    fail(source, std::string(key) + " has " + std::to_string(length) + " entries but tokenizer.ggml.tokens has " +
                     std::to_string(num_tokens) + "; the file is inconsistent, re-convert the model");
}

// Texts that end a turn or the generation in the chat formats llama.cpp knows.
constexpr std::string_view eot_texts[] = {"<|eot_id|>",    "<|im_end|>",    "<|end|>",
                                          "<end_of_turn>", "<|endoftext|>", "<EOT>"};
constexpr std::string_view eog_texts[] = {"<|eot_id|>",    "<|im_end|>", "<|end|>", "<end_of_turn>",
                                          "<|endoftext|>", "<|eom_id|>", "<EOT>"};

template <std::size_t N>
bool is_one_of(const std::string& text, const std::string_view (&list)[N]) {
    return std::find(std::begin(list), std::end(list), text) != std::end(list);
}

}  // namespace

void validate_tokenizer_spec(const TokenizerSpec& spec, std::string_view source) {
    if (spec.model != "llama" && spec.model != "gpt2") {
        fail(source, "unsupported tokenizer model '" + spec.model +
                         "' (tokenizer.ggml.model); kvscope reads 'llama' (SentencePiece) and 'gpt2' (byte-level "
                         "BPE) vocabularies");
    }
    const std::size_t n = spec.tokens.size();
    if (n == 0) fail(source, "the vocabulary is empty (tokenizer.ggml.tokens); use a model file with a tokenizer");
    if (n > static_cast<std::size_t>(INT32_MAX)) fail(source, "tokenizer.ggml.tokens has too many tokens");
    check_length(source, "tokenizer.ggml.scores", spec.scores.size(), n);
    check_length(source, "tokenizer.ggml.token_type", spec.token_types.size(), n);
    check_token_id(source, "tokenizer.ggml.bos_token_id", spec.bos_id, n);
    check_token_id(source, "tokenizer.ggml.eos_token_id", spec.eos_id, n);
    check_token_id(source, "tokenizer.ggml.unknown_token_id", spec.unk_id, n);
    check_token_id(source, "tokenizer.ggml.padding_token_id", spec.pad_id, n);
    check_token_id(source, "tokenizer.ggml.eot_token_id", spec.eot_id, n);
    for (std::int32_t id : spec.eog_ids) {
        if (id < 0) fail(source, "end-of-generation token id " + std::to_string(id) + " is negative");
        check_token_id(source, "an end-of-generation token id", id, n);
    }
    if (spec.add_bos && spec.bos_id < 0) {
        fail(source, "tokenizer.ggml.add_bos_token is true but there is no BOS token (tokenizer.ggml.bos_token_id)");
    }
    if (spec.add_eos && spec.eos_id < 0) {
        fail(source, "tokenizer.ggml.add_eos_token is true but there is no EOS token (tokenizer.ggml.eos_token_id)");
    }
    for (std::size_t i = 0; i < spec.merges.size(); ++i) {
        const std::string& merge = spec.merges[i];
        const std::size_t space = merge.size() > 1 ? merge.find(' ', 1) : std::string::npos;
        if (space == std::string::npos || space + 1 >= merge.size()) {
            fail(source, "tokenizer.ggml.merges[" + std::to_string(i) + "] = '" + merge +
                             "' is not two tokens separated by a space; the file is damaged, re-convert the model");
        }
    }
}

void infer_special_tokens(TokenizerSpec& spec) {
    if (spec.token_types.empty()) spec.token_types.assign(spec.tokens.size(), TokenType::Normal);
    auto add_eog = [&spec](std::int32_t id) {
        if (id < 0) return;
        if (std::find(spec.eog_ids.begin(), spec.eog_ids.end(), id) == spec.eog_ids.end()) spec.eog_ids.push_back(id);
    };
    for (std::size_t i = 0; i < spec.tokens.size(); ++i) {
        const auto id = static_cast<std::int32_t>(i);
        if (spec.eot_id < 0 && is_one_of(spec.tokens[i], eot_texts)) spec.eot_id = id;
        if (is_one_of(spec.tokens[i], eog_texts)) add_eog(id);
    }
    add_eog(spec.eos_id);
    add_eog(spec.eot_id);
    std::sort(spec.eog_ids.begin(), spec.eog_ids.end());
    // A token that ends generation is never ordinary text (llama.cpp overrides its type too).
    for (std::int32_t id : spec.eog_ids) {
        if (id < static_cast<std::int32_t>(spec.token_types.size())) spec.token_types[id] = TokenType::Control;
    }
}

}  // namespace kvscope
