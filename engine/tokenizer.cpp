// The Tokenizer's tables, special-token splitting, pieces and decoding. The two models'
// merge loops live in tokenizer_spm.cpp and tokenizer_bpe.cpp.

#include "engine/tokenizer.h"

#include <algorithm>
#include <cstdio>

#include "engine/error.h"
#include "engine/unicode.h"

namespace kvscope {

namespace {

constexpr std::string_view spm_space = "\xE2\x96\x81";  // U+2581 "▁", SentencePiece's space

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// The byte of a "<0xXX>" token text, or -1.
int byte_token_value(std::string_view text) {
    if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
    const int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
    return (hi < 0 || lo < 0) ? -1 : hi * 16 + lo;
}

std::string replace_all(std::string_view text, std::string_view from, std::string_view to) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t pos = 0;;) {
        const std::size_t hit = text.find(from, pos);
        if (hit == std::string_view::npos) {
            out.append(text.substr(pos));
            return out;
        }
        out.append(text.substr(pos, hit - pos)).append(to);
        pos = hit + from.size();
    }
}

// GPT-2 byte-level text -> bytes; a code point outside the mapping is kept as it is.
std::string byte_level_decode(std::string_view text) {
    std::string out;
    for (std::size_t pos = 0; pos < text.size();) {
        const Utf8Step step = utf8_next(text, pos);
        const int byte = step.status == Utf8Status::Valid ? codepoint_to_byte(step.cp) : -1;
        if (byte >= 0) {
            out.push_back(static_cast<char>(byte));
        } else {
            out.append(text.substr(pos, step.length));
        }
        pos += step.length;
    }
    return out;
}

}  // namespace

void Tokenizer::SpecialMatcher::add(std::string_view text, std::int32_t token) {
    std::int32_t node = 0;
    for (char ch : text) {
        const auto byte = static_cast<unsigned char>(ch);
        std::int32_t child = nodes[node].first_child;
        while (child >= 0 && nodes[child].byte != byte) child = nodes[child].next_sibling;
        if (child < 0) {
            child = static_cast<std::int32_t>(nodes.size());
            Node fresh;
            fresh.byte = byte;
            fresh.next_sibling = nodes[node].first_child;
            nodes.push_back(fresh);
            nodes[node].first_child = child;
        }
        node = child;
    }
    if (nodes[node].token < 0) nodes[node].token = token;  // the lowest id wins for duplicate texts
}

std::pair<std::size_t, std::int32_t> Tokenizer::SpecialMatcher::longest_match(std::string_view text,
                                                                              std::size_t pos) const {
    std::pair<std::size_t, std::int32_t> best{0, -1};
    std::int32_t node = 0;
    for (std::size_t i = pos; i < text.size(); ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        std::int32_t child = nodes[node].first_child;
        while (child >= 0 && nodes[child].byte != byte) child = nodes[child].next_sibling;
        if (child < 0) break;
        node = child;
        if (nodes[node].token >= 0) best = {i + 1 - pos, nodes[node].token};
    }
    return best;
}

Tokenizer::Tokenizer(const TokenizerSpec& spec) {
    validate_tokenizer_spec(spec, "tokenizer");
    model_ = spec.model == "llama" ? Model::Spm : Model::Bpe;
    if (model_ == Model::Bpe) {
        const PreTokenizerChoice choice = pre_tokenizer_from_name(spec.pre);
        pre_ = choice.kind;
        ignore_merges_ = pre_ == PreTokenizerKind::Llama3;
        if (!choice.recognised) {
            warnings_.push_back("unknown pre-tokenizer '" + spec.pre +
                                "' (tokenizer.ggml.pre): using the GPT-2 split; tokens may differ from the model's");
        }
    }
    bos_id_ = spec.bos_id;
    eos_id_ = spec.eos_id;
    eot_id_ = spec.eot_id;
    unk_id_ = spec.unk_id;
    pad_id_ = spec.pad_id;
    add_bos_ = spec.add_bos;
    add_eos_ = spec.add_eos;
    add_space_prefix_ = spec.add_space_prefix;

    const std::size_t n = spec.tokens.size();
    tokens_.resize(n);
    token_ids_.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto id = static_cast<std::int32_t>(i);
        TokenData& token = tokens_[i];
        token.text = spec.tokens[i];
        token.score = spec.scores.empty() ? 0.0f : spec.scores[i];
        token.type = spec.token_types.empty() ? TokenType::Normal : spec.token_types[i];
        token_ids_.emplace(token.text, id);  // keeps the lowest id of duplicate texts
        max_token_bytes_ = std::max(max_token_bytes_, token.text.size());
        if (token.text.empty()) continue;
        if (token.type == TokenType::Control || token.type == TokenType::Unknown) all_specials_.add(token.text, id);
        if (token.type == TokenType::UserDefined) {
            all_specials_.add(token.text, id);
            user_specials_.add(token.text, id);
        }
    }
    for (std::size_t i = 0; i < spec.merges.size(); ++i) {
        merge_ranks_.emplace(spec.merges[i], static_cast<std::int32_t>(i));  // the first rank of duplicates
    }
    for (int b = 0; b < 256; ++b) {
        std::optional<std::int32_t> id;
        if (model_ == Model::Spm) {
            char hex[8];
            std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
            id = lookup(hex);
            if (!id) id = lookup(std::string(1, static_cast<char>(b)));  // llama.cpp's fallback
        } else {
            std::string mapped;
            utf8_append(mapped, byte_to_codepoint(static_cast<std::uint8_t>(b)));
            id = lookup(mapped);
        }
        byte_tokens_[b] = id.value_or(-1);
    }
    eog_.assign(n, false);
    for (std::int32_t id : {spec.eos_id, spec.eot_id}) {
        if (id >= 0) eog_[id] = true;
    }
    for (std::int32_t id : spec.eog_ids) eog_[id] = true;
    pieces_.resize(n);
    for (std::size_t i = 0; i < n; ++i) pieces_[i] = make_piece(static_cast<std::int32_t>(i));
}

std::string Tokenizer::make_piece(std::int32_t id) const {
    const TokenData& token = tokens_[id];
    switch (token.type) {
        case TokenType::Control:
        case TokenType::Unknown:
        case TokenType::UserDefined:
            return token.text;
        case TokenType::Unused:
        case TokenType::Undefined:
            return {};
        case TokenType::Byte:
            if (const int byte = byte_token_value(token.text); byte >= 0)
                return std::string(1, static_cast<char>(byte));
            break;  // not of the <0xXX> form: read it as a normal token
        case TokenType::Normal:
            break;
    }
    return model_ == Model::Spm ? replace_all(token.text, spm_space, " ") : byte_level_decode(token.text);
}

std::optional<std::int32_t> Tokenizer::lookup(std::string_view text) const {
    const auto it = token_ids_.find(text);
    if (it == token_ids_.end()) return std::nullopt;
    return it->second;
}

void Tokenizer::check_id(std::int32_t id) const {
    if (id >= 0 && id < vocab_size()) return;
    throw ConfigError("token id " + std::to_string(id) + " is outside the vocabulary (ids 0.." +
                      std::to_string(vocab_size() - 1) + "); use ids the model's tokenizer produced");
}

std::vector<std::int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    std::vector<std::int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (add_special && add_bos_) out.push_back(bos_id_);
    const SpecialMatcher& specials = parse_special ? all_specials_ : user_specials_;
    bool after_special = true;  // the start of the text counts as "after a special token" (dummy prefix)
    auto flush_text = [&](std::size_t begin, std::size_t end) {
        if (begin == end) return;
        const std::string_view run = text.substr(begin, end - begin);
        if (model_ == Model::Spm) {
            encode_spm(run, after_special, out);
        } else {
            encode_bpe(run, out);
        }
        after_special = false;
    };
    std::size_t run_begin = 0;
    for (std::size_t pos = 0; pos < text.size() && !specials.empty();) {
        const auto [length, id] = specials.longest_match(text, pos);
        if (length == 0) {
            ++pos;
            continue;
        }
        flush_text(run_begin, pos);
        out.push_back(id);
        after_special = true;
        pos += length;
        run_begin = pos;
    }
    flush_text(run_begin, text.size());
    if (add_special && add_eos_) out.push_back(eos_id_);
    return out;
}

void Tokenizer::append_byte_tokens(std::string_view bytes, std::vector<std::int32_t>& out) const {
    for (char ch : bytes) {
        const std::int32_t id = byte_tokens_[static_cast<unsigned char>(ch)];
        if (id >= 0) {
            out.push_back(id);
        } else if (unk_id_ >= 0) {
            out.push_back(unk_id_);
        }  // else: a vocabulary with neither byte tokens nor <unk> cannot represent the byte
    }
}

bool Tokenizer::has_byte_tokens(std::string_view bytes) const {
    for (char ch : bytes) {
        if (byte_tokens_[static_cast<unsigned char>(ch)] < 0) return false;
    }
    return true;
}

const std::string& Tokenizer::token_piece(std::int32_t id) const {
    check_id(id);
    return pieces_[id];
}

std::string Tokenizer::decode(std::span<const std::int32_t> ids, bool skip_special) const {
    std::string out;
    for (std::int32_t id : ids) {
        check_id(id);
        const TokenType type = tokens_[id].type;
        if (skip_special && (type == TokenType::Control || type == TokenType::Unknown)) continue;
        out.append(pieces_[id]);
    }
    return out;
}

bool Tokenizer::is_eog(std::int32_t id) const {
    return id >= 0 && id < vocab_size() && eog_[id];
}

bool Tokenizer::is_control(std::int32_t id) const {
    return token_type(id) == TokenType::Control;
}

TokenType Tokenizer::token_type(std::int32_t id) const {
    return (id >= 0 && id < vocab_size()) ? tokens_[id].type : TokenType::Undefined;
}

float Tokenizer::token_score(std::int32_t id) const {
    check_id(id);
    return tokens_[id].score;
}

const std::string& Tokenizer::token_text(std::int32_t id) const {
    check_id(id);
    return tokens_[id].text;
}

std::optional<std::int32_t> Tokenizer::find_token(std::string_view text) const {
    return lookup(text);
}

std::vector<std::int32_t> Tokenizer::eog_ids() const {
    std::vector<std::int32_t> ids;
    for (std::int32_t id = 0; id < vocab_size(); ++id) {
        if (eog_[id]) ids.push_back(id);
    }
    return ids;
}

}  // namespace kvscope
