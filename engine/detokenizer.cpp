#include "engine/detokenizer.h"

#include "engine/unicode.h"
#include "kernels/check.h"

namespace kvscope {

StreamingDetokenizer::StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special)
    : tokenizer_(&tokenizer), skip_special_(skip_special) {
    pending_.reserve(8);
}

void StreamingDetokenizer::push(std::int32_t id, std::string& out) {
    const std::string& piece = tokenizer_->token_piece(id);  // throws for a bad id
    if (skip_special_) {
        const TokenType type = tokenizer_->token_type(id);
        if (type == TokenType::Control || type == TokenType::Unknown) return;
    }
    append_valid(piece, out);
}

std::string StreamingDetokenizer::push(std::int32_t id) {
    std::string out;
    push(id, out);
    return out;
}

void StreamingDetokenizer::append_valid(std::string_view piece, std::string& out) {
    // The held-back bytes come first; decode them together with the start of the piece. Once
    // pending_ is resolved (completed or replaced), continue in the piece itself, so a long
    // piece is never copied into pending_.
    std::size_t pos = 0;  // position in the piece
    while (!pending_.empty() && pos < piece.size()) {
        pending_.push_back(piece[pos++]);
        const Utf8Step step = utf8_next(pending_, 0);
        if (step.status == Utf8Status::Truncated) continue;  // still incomplete
        if (step.status == Utf8Status::Valid) {
            out.append(pending_);
        } else {
            // The first step.length bytes can never become a character; the rest are re-read.
            utf8_append(out, replacement_character);
            const std::size_t reread = pending_.size() - step.length;
            pos -= std::min(reread, pos);  // they all came from the piece (pending_ held one sequence)
        }
        pending_.clear();
    }
    while (pos < piece.size()) {
        const Utf8Step step = utf8_next(piece, pos);
        if (step.status == Utf8Status::Valid) {
            out.append(piece.substr(pos, step.length));
        } else if (step.status == Utf8Status::Invalid) {
            utf8_append(out, replacement_character);
        } else {
            pending_.assign(piece.substr(pos));  // a character that may complete in the next piece
        }
        pos += step.length;
    }
    KV_CHECK(pending_.size() <= 3);
}

void StreamingDetokenizer::flush(std::string& out) {
    for (std::size_t pos = 0; pos < pending_.size();) {
        const Utf8Step step = utf8_next(pending_, pos);
        utf8_append(out, replacement_character);  // only Truncated or Invalid bytes are held back
        pos += step.length;
    }
    pending_.clear();
}

std::string StreamingDetokenizer::flush() {
    std::string out;
    flush(out);
    return out;
}

}  // namespace kvscope
