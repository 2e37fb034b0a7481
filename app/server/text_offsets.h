#pragma once
// OpenAI's completion "text_offset": where each token's text starts in the choice's text, counted
// in characters (Unicode code points, as OpenAI and vLLM count a Python str), as the streaming
// detokenizer shows the text. Special tokens (BOS, EOS) take no room; a token that ends inside a
// character starts where that character will; with `strip_space_prefix` the SentencePiece dummy
// space in front of a prompt's first word is not counted, as the echoed prompt has none.

#include <cstdint>

#include "engine/detokenizer.h"
#include "engine/tokenizer.h"

namespace kvscope::server {

class TextOffsets {
public:
    // `start`: the characters in front of the first token (an echoed prompt's).
    TextOffsets(const Tokenizer& tokenizer, std::int64_t start, bool strip_space_prefix = false);

    // The offset of token `id`; the next token's starts after its text.
    std::int64_t push(std::int32_t id);

private:
    StreamingDetokenizer detokenizer_;
    std::int64_t chars_ = 0;
    bool strip_space_ = false;
    std::string text_;  // scratch for one token's text
};

// Characters (code points) in UTF-8 `text`; an ill-formed byte counts as one, as U+FFFD would.
std::int64_t count_chars(std::string_view text);

}  // namespace kvscope::server
