#include "app/server/text_offsets.h"

#include "engine/unicode.h"

namespace kvscope::server {

TextOffsets::TextOffsets(const Tokenizer& tokenizer, std::int64_t start)
    : detokenizer_(tokenizer, /*skip_special=*/true), chars_(start) {}

TextOffsets::TextOffsets(const Tokenizer& tokenizer, Prompt prompt)
    : detokenizer_(tokenizer, /*skip_special=*/prompt == Prompt::ids),
      strip_space_(tokenizer.add_space_prefix()),
      skip_added_bos_(prompt == Prompt::text && tokenizer.add_bos()),
      bos_(tokenizer.bos_id()) {}

std::int64_t TextOffsets::push(std::int32_t id) {
    const std::int64_t offset = chars_;
    const bool added_bos = skip_added_bos_ && id == bos_;
    skip_added_bos_ = false;
    if (added_bos) return offset;
    text_.clear();
    detokenizer_.push(id, text_);
    std::string_view shown = text_;
    if (strip_space_ && !shown.empty()) {  // only the first text the stream shows has the dummy space
        if (shown.front() == ' ') shown.remove_prefix(1);
        strip_space_ = false;
    }
    chars_ += count_chars(shown);
    return offset;
}

std::int64_t count_chars(std::string_view text) {
    std::int64_t n = 0;
    for (std::size_t pos = 0; pos < text.size(); ++n) pos += utf8_next(text, pos).length;
    return n;
}

}  // namespace kvscope::server
