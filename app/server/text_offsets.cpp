#include "app/server/text_offsets.h"

#include "engine/unicode.h"

namespace kvscope::server {

TextOffsets::TextOffsets(const Tokenizer& tokenizer, std::int64_t start, bool strip_space_prefix)
    : detokenizer_(tokenizer), chars_(start), strip_space_(strip_space_prefix && tokenizer.add_space_prefix()) {}

std::int64_t TextOffsets::push(std::int32_t id) {
    const std::int64_t offset = chars_;
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
