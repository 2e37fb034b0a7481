#include "app/server/vocabulary_json.h"

#include "engine/unicode.h"

namespace kvscope::server {

VocabularyPieces vocabulary_pieces(const Tokenizer& tokenizer) {
    VocabularyPieces v;
    v.pieces.resize(static_cast<std::size_t>(tokenizer.vocab_size()));
    v.special.resize(v.pieces.size());
    for (std::int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
        v.pieces[static_cast<std::size_t>(id)] = tokenizer.token_piece(id);
        const TokenType type = tokenizer.token_type(id);
        v.special[static_cast<std::size_t>(id)] = type == TokenType::Control || type == TokenType::Unknown;
    }
    return v;
}

nlohmann::json byte_list(const std::string& piece) {
    nlohmann::json bytes = nlohmann::json::array();
    for (unsigned char c : piece) bytes.push_back(static_cast<int>(c));
    return bytes;
}

nlohmann::json vocabulary_json(const VocabularyPieces& vocabulary, const std::string& model) {
    nlohmann::json pieces = nlohmann::json::array();
    nlohmann::json special = nlohmann::json::array();
    for (std::size_t id = 0; id < vocabulary.pieces.size(); ++id) {
        const std::string& piece = vocabulary.pieces[id];
        pieces.push_back(utf8_is_valid(piece) ? nlohmann::json(piece) : byte_list(piece));
        if (vocabulary.special[id]) special.push_back(id);
    }
    return {{"model", model},
            {"size", vocabulary.pieces.size()},
            {"pieces", std::move(pieces)},
            {"special", std::move(special)}};
}

std::optional<VocabularyPieces> vocabulary_from_json(const nlohmann::json& body, std::string& error) {
    if (!body.is_object() || !body.contains("pieces") || !body["pieces"].is_array()) {
        error = "no \"pieces\" list";
        return std::nullopt;
    }
    const nlohmann::json& pieces = body["pieces"];
    if (!body.contains("size") || !body["size"].is_number_unsigned() ||
        body["size"].get<std::size_t>() != pieces.size()) {
        error = "\"size\" is not the number of pieces (" + std::to_string(pieces.size()) + ")";
        return std::nullopt;
    }
    VocabularyPieces v;
    v.pieces.reserve(pieces.size());
    for (const nlohmann::json& p : pieces) {
        if (p.is_string()) {
            v.pieces.push_back(p.get<std::string>());
            continue;
        }
        if (!p.is_array()) {
            error = "piece " + std::to_string(v.pieces.size()) + " is neither a string nor a list of bytes";
            return std::nullopt;
        }
        std::string bytes;
        for (const nlohmann::json& b : p) {
            if (!b.is_number_unsigned() || b.get<std::uint64_t>() > 255) {
                error = "piece " + std::to_string(v.pieces.size()) + " holds a value that is no byte";
                return std::nullopt;
            }
            bytes.push_back(static_cast<char>(b.get<std::uint8_t>()));
        }
        v.pieces.push_back(std::move(bytes));
    }
    v.special.assign(v.pieces.size(), false);
    if (body.contains("special")) {
        if (!body["special"].is_array()) {
            error = "\"special\" is not a list of token ids";
            return std::nullopt;
        }
        for (const nlohmann::json& id : body["special"]) {
            if (!id.is_number_unsigned() || id.get<std::uint64_t>() >= v.pieces.size()) {
                error = "\"special\" holds " + id.dump() + ", which is no token id";
                return std::nullopt;
            }
            v.special[id.get<std::size_t>()] = true;
        }
    }
    return v;
}

}  // namespace kvscope::server
