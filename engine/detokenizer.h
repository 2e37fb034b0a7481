#pragma once
// Streaming detokenization: token ids in, valid UTF-8 text out, piece by piece.
//
// A character can be split across tokens (byte tokens <0xE2><0x82><0xAC> for "€", or byte-level
// BPE tokens that end mid-character). push() returns the text completed so far and holds back
// the bytes of a character that is not complete yet; bytes that can never form a character are
// replaced by U+FFFD at once. The concatenation of everything returned equals
// utf8_sanitize(tokenizer.decode(ids)), and every returned string is valid UTF-8.
//
// Pieces are emitted as they are: a SentencePiece token "▁Once" gives " Once", including for the
// first generated token. When a caller shows a prompt and its continuation, the dummy-prefix
// space in front of the prompt's first token (Tokenizer::add_space_prefix()) is the caller's to
// strip; a continuation that starts with a space really does.

#include <cstdint>
#include <string>

#include "engine/tokenizer.h"

namespace kvscope {

class StreamingDetokenizer {
public:
    // skip_special: Control and Unknown tokens (BOS, EOS, <|im_end|>, <unk>) produce no text.
    // The tokenizer must outlive this object.
    explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool skip_special = true);

    // Appends the newly completed text for token `id` to `out` (allocation-free once `out` has
    // capacity). Throws ConfigError for an id outside the vocabulary.
    void push(std::int32_t id, std::string& out);
    std::string push(std::int32_t id);

    // The held-back bytes of an unfinished character, as U+FFFD (one per maximal ill-formed
    // subpart); afterwards the detokenizer is empty and can start a new stream.
    void flush(std::string& out);
    std::string flush();

    // Drops held-back bytes without emitting them.
    void reset() { pending_.clear(); }
    // Bytes held back (0..3).
    std::size_t num_pending_bytes() const { return pending_.size(); }

private:
    // Emits the complete characters of pending_ + piece and keeps a trailing incomplete one.
    void append_valid(std::string_view piece, std::string& out);

    const Tokenizer* tokenizer_;
    bool skip_special_;
    std::string pending_;  // an incomplete UTF-8 sequence, at most 3 bytes
};

}  // namespace kvscope
