#pragma once
// GET /v1/kv/vocabulary (kvscope's): the bytes of every token id, so that a client that reads
// token ids (return_token_ids, and logprobs with return_tokens_as_token_ids) can spell them one
// by one as the embedded engine does: the attached workbench's chat token probabilities.
//   {"model", "size", "pieces": [piece per id], "special": [ids]}
// A piece is a string when its bytes are valid UTF-8, else the list of its byte values (a byte
// token, or part of a character); "special" lists the control and unknown tokens (BOS, EOS,
// <|im_end|>), which a chat's text leaves out.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "engine/tokenizer.h"

namespace kvscope::server {

struct VocabularyPieces {
    std::vector<std::string> pieces;  // pieces[id]: Tokenizer::token_piece(id)
    std::vector<bool> special;        // a control or unknown token
};

VocabularyPieces vocabulary_pieces(const Tokenizer& tokenizer);
// A piece's bytes as a list of their values (also chat logprobs' "bytes").
nlohmann::json byte_list(const std::string& piece);
nlohmann::json vocabulary_json(const VocabularyPieces& vocabulary, const std::string& model);
// nullopt, with `error` saying what is wrong, for a body that is not such a vocabulary.
std::optional<VocabularyPieces> vocabulary_from_json(const nlohmann::json& body, std::string& error);

}  // namespace kvscope::server
