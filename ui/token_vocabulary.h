#pragma once
// The bytes each token id stands for, so that the workbench can show generated tokens one by one
// (the chat's token probabilities). Made on the engine's thread from the tokenizer when a model
// loads, then immutable and shared (a chat turn keeps the vocabulary it was generated with).

#include <QString>
#include <cstdint>
#include <string>
#include <vector>

namespace kvscope::ui {

class TokenVocabulary {
public:
    // pieces[id]: the token's bytes (Tokenizer::token_piece: "▁" already a space, a byte token its
    // one byte, possibly part of a UTF-8 character). special[id]: a control or unknown token (BOS,
    // EOS, <|im_end|>), which the chat's text leaves out.
    TokenVocabulary(std::vector<std::string> pieces, std::vector<bool> special);

    std::int32_t size() const { return std::int32_t(m_pieces.size()); }
    bool contains(std::int32_t id) const { return id >= 0 && id < size(); }
    // "" for an id outside the vocabulary.
    const std::string& piece(std::int32_t id) const;
    bool isSpecial(std::int32_t id) const { return contains(id) && m_special[std::size_t(id)]; }
    // One token as it reads alone, whitespace made visible: " the" -> "␣the", "\n" -> "↵", a byte
    // that is not a character by itself -> "<0xE2>", a special token -> its text. "#id" when unknown.
    QString label(std::int32_t id) const;

private:
    std::vector<std::string> m_pieces;
    std::vector<bool> m_special;
};

}  // namespace kvscope::ui
