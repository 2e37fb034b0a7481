#pragma once
// Pre-tokenizers for byte-level BPE: split text into the "words" that BPE merges never cross.
// Each is a hand-written equivalent of a regex from the model's tokenizer.json, run over code
// points with the Unicode classes of engine/unicode.h (no std::regex: it has no \p{L}).
//
//   Gpt2    's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   Llama3  (?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|
//           \p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//   Qwen2   as Llama3 with \p{N} (one digit per word) instead of \p{N}{1,3}
//
// Llama-3's original (?i:'s|...) is written with ASCII case classes, as llama.cpp does.

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace kvscope {

enum class PreTokenizerKind { Gpt2, Llama3, Qwen2 };

struct PreTokenizerChoice {
    PreTokenizerKind kind = PreTokenizerKind::Gpt2;
    bool recognised = true;  // false: `pre` was unknown and the GPT-2 split is used instead
};

// The split for a `tokenizer.ggml.pre` value: "llama-bpe", "llama3", "llama-v3", "falcon3",
// "dbrx", "smaug-bpe" -> Llama3; "qwen2", "stablelm2", "megrez" -> Qwen2; "", "default", "gpt2",
// "gpt-2" and anything else -> Gpt2 (unknown names are reported through `recognised`).
PreTokenizerChoice pre_tokenizer_from_name(std::string_view pre);

std::string_view pre_tokenizer_name(PreTokenizerKind kind);

// Byte ranges [first, second) of the words of `text`, which must be valid UTF-8; together they
// cover the text exactly, in order. Appends to `words` (cleared first).
void pre_tokenize(PreTokenizerKind kind, std::string_view text,
                  std::vector<std::pair<std::size_t, std::size_t>>& words);

}  // namespace kvscope
