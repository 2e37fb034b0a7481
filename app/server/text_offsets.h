#pragma once
// OpenAI's completion "text_offset": where each token's text starts in the choice's text, counted
// in characters (Unicode code points, as OpenAI and vLLM count a Python str), as the streaming
// detokenizer shows the text. A token that ends inside a character starts where that character
// will. Generated text and prompts given as ids show no special tokens (BOS, EOS), so these take
// no room there; a prompt given as text shows the special-token texts it holds, so they count,
// all but the BOS that tokenization added in front. With `prompt` the SentencePiece dummy space in
// front of a prompt's first word is not counted either, as the echoed prompt has none. (Left: a
// SentencePiece prompt with a special token inside has a dummy space after it that its text has
// not, so the tokens after it count one character more than the text holds.)

#include <cstdint>

#include "engine/detokenizer.h"
#include "engine/tokenizer.h"

namespace kvscope::server {

class TextOffsets {
public:
    // Generated text; `start`: the characters in front of the first token (an echoed prompt's).
    TextOffsets(const Tokenizer& tokenizer, std::int64_t start);
    // An echoed prompt, given as text or as ids (CompletionJob::prompt_is_text).
    enum class Prompt { text, ids };
    TextOffsets(const Tokenizer& tokenizer, Prompt prompt);

    // The offset of token `id`; the next token's starts after its text.
    std::int64_t push(std::int32_t id);

private:
    StreamingDetokenizer detokenizer_;
    std::int64_t chars_ = 0;
    bool strip_space_ = false;
    bool skip_added_bos_ = false;  // the next token, when it is the BOS, takes no room
    std::int32_t bos_ = -1;
    std::string text_;  // scratch for one token's text
};

// Characters (code points) in UTF-8 `text`; an ill-formed byte counts as one, as U+FFFD would.
std::int64_t count_chars(std::string_view text);

}  // namespace kvscope::server
