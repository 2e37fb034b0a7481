// Reading a TokenizerSpec from GGUF metadata (`tokenizer.ggml.*`), with llama.cpp's defaults.

#include <string>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"

namespace kvscope {

namespace {

// A token id key: nullopt when absent or "none" (converters write -1 or UINT32_MAX, e.g.
// stories260K's padding_token_id = 4294967295); ModelError when it is outside the vocabulary.
std::optional<std::int32_t> read_token_id(const GgufFile& file, std::string_view key, std::size_t num_tokens) {
    const std::optional<std::int64_t> value = file.get_int(key);
    if (!value || *value == -1 || *value == 0xFFFFFFFFLL) return std::nullopt;
    if (*value < 0 || *value >= static_cast<std::int64_t>(num_tokens)) {
        throw ModelError(file.name() + ": " + std::string(key) + " = " + std::to_string(*value) +
                         " is outside the vocabulary of " + std::to_string(num_tokens) +
                         " tokens; the file is inconsistent, re-convert the model");
    }
    return static_cast<std::int32_t>(*value);
}

TokenType token_type_from_gguf(std::int64_t value) {
    if (value >= 1 && value <= 6) return static_cast<TokenType>(value);
    return TokenType::Undefined;  // llama.cpp reads unknown values as "undefined" too
}

}  // namespace

TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& file) {
    TokenizerSpec spec;
    const std::optional<std::string> model = file.get_string("tokenizer.ggml.model");
    if (!model) {
        throw ModelError(file.name() +
                         ": no tokenizer (the key tokenizer.ggml.model is missing); use a GGUF file "
                         "converted with its vocabulary");
    }
    spec.model = *model;
    if (spec.model != "llama" && spec.model != "gpt2") validate_tokenizer_spec(spec, file.name());  // throws
    spec.pre = file.get_string("tokenizer.ggml.pre").value_or("");

    std::optional<std::vector<std::string>> tokens = file.get_string_array("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty()) {
        throw ModelError(file.name() +
                         ": the vocabulary (tokenizer.ggml.tokens) is missing or empty; use a GGUF "
                         "file converted with its vocabulary");
    }
    spec.tokens = std::move(*tokens);
    const std::size_t n = spec.tokens.size();
    spec.scores = file.get_float_array("tokenizer.ggml.scores").value_or(std::vector<float>{});
    if (const auto types = file.get_int_array("tokenizer.ggml.token_type")) {
        spec.token_types.reserve(types->size());
        for (std::int64_t t : *types) spec.token_types.push_back(token_type_from_gguf(t));
    }
    if (spec.model == "gpt2") {
        std::optional<std::vector<std::string>> merges = file.get_string_array("tokenizer.ggml.merges");
        if (!merges) {
            throw ModelError(file.name() +
                             ": a gpt2 (BPE) tokenizer without tokenizer.ggml.merges; the file is "
                             "incomplete, re-convert the model");
        }
        spec.merges = std::move(*merges);
    }

    // Defaults as llama.cpp has them when a key is absent.
    const bool spm = spec.model == "llama";
    const bool llama3_pre =
        spec.pre == "llama3" || spec.pre == "llama-v3" || spec.pre == "llama-bpe" || spec.pre == "falcon3";
    auto default_id = [n](std::int32_t id) { return id < static_cast<std::int32_t>(n) ? id : -1; };
    spec.bos_id = read_token_id(file, "tokenizer.ggml.bos_token_id", n).value_or(spm ? default_id(1) : -1);
    spec.eos_id = read_token_id(file, "tokenizer.ggml.eos_token_id", n).value_or(spm ? default_id(2) : -1);
    spec.unk_id = read_token_id(file, "tokenizer.ggml.unknown_token_id", n).value_or(spm ? default_id(0) : -1);
    spec.pad_id = read_token_id(file, "tokenizer.ggml.padding_token_id", n).value_or(-1);
    spec.eot_id = read_token_id(file, "tokenizer.ggml.eot_token_id", n).value_or(-1);
    if (const auto eom = read_token_id(file, "tokenizer.ggml.eom_token_id", n)) spec.eog_ids.push_back(*eom);
    spec.add_bos = file.get_bool("tokenizer.ggml.add_bos_token").value_or(spm || llama3_pre);
    spec.add_eos = file.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    spec.add_space_prefix = file.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);

    validate_tokenizer_spec(spec, file.name());
    infer_special_tokens(spec);
    return spec;
}

}  // namespace kvscope
