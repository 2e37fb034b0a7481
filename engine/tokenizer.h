#pragma once
// Tokenizers as GGUF describes them (the `tokenizer.ggml.*` keys), working as llama.cpp does:
//   "llama": SentencePiece BPE with scores: merge the best-scoring adjacent pair repeatedly,
//            spaces as U+2581 "▁", a dummy-prefix space, byte fallback to <0xXX> tokens.
//   "gpt2":  byte-level BPE: a pre-tokenizer regex split (see pretokenizer.h), each word's bytes
//            mapped to GPT-2's printable code points, merges applied by rank.
// A Tokenizer is immutable after construction and safe to share between threads.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/pretokenizer.h"

namespace kvscope {

class GgufFile;

// The values of `tokenizer.ggml.token_type` (llama.cpp's llama_token_type).
enum class TokenType : std::int32_t {
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
};

// Everything a tokenizer is made from: plain data, filled from GGUF metadata or by hand (tests).
struct TokenizerSpec {
    std::string model;                   // "llama" (SentencePiece) or "gpt2" (byte-level BPE)
    std::string pre;                     // gpt2 pre-tokenizer: "default", "llama-bpe", "qwen2", ...
    std::vector<std::string> tokens;     // id -> text as stored in the vocabulary
    std::vector<float> scores;           // empty (all 0) or one per token; SPM merge priorities
    std::vector<TokenType> token_types;  // empty (all Normal) or one per token
    std::vector<std::string> merges;     // gpt2: "left right", highest priority first
    std::int32_t bos_id = -1;            // -1: absent
    std::int32_t eos_id = -1;
    std::int32_t unk_id = -1;
    std::int32_t pad_id = -1;
    std::int32_t eot_id = -1;
    bool add_bos = false;               // encode(add_special = true) starts with BOS
    bool add_eos = false;               // encode(add_special = true) ends with EOS
    bool add_space_prefix = false;      // llama: prepend " " to text (the SentencePiece dummy prefix)
    std::vector<std::int32_t> eog_ids;  // more end-of-generation tokens besides eos and eot
};

// Throws ModelError (one line, naming `source` and the GGUF key) when the spec is unusable:
// unknown model, no tokens, array lengths that differ, ids out of range, malformed merges,
// add_bos/add_eos without the token.
void validate_tokenizer_spec(const TokenizerSpec& spec, std::string_view source);

// llama.cpp's conventions for special tokens that converters leave out of the metadata:
// eot_id, when -1, becomes the first token whose text is one of <|eot_id|>, <|im_end|>, <|end|>,
// <end_of_turn>, <|endoftext|>, <EOT>; those texts and <|eom_id|> join eog_ids (as do eos and
// eot), and every end-of-generation token becomes a Control token.
void infer_special_tokens(TokenizerSpec& spec);

// Reads `tokenizer.ggml.*` from a GGUF file with llama.cpp's defaults for absent keys (llama:
// bos 1, eos 2, unk 0, add_bos true, add_space_prefix true; gpt2: add_bos only for the Llama-3
// pre-tokenizers), applies infer_special_tokens and validates. Throws ModelError.
// (Defined in tokenizer_gguf.cpp.)
TokenizerSpec tokenizer_spec_from_gguf(const GgufFile& file);

class Tokenizer {
public:
    enum class Model { Spm, Bpe };

    // Validates the spec (ModelError) and builds the lookup tables.
    explicit Tokenizer(const TokenizerSpec& spec);

    // Text -> ids. add_special: BOS/EOS as the spec's add_bos/add_eos say. parse_special: the
    // texts of Control and Unknown tokens ("<|im_start|>", "</s>") in `text` become those tokens;
    // UserDefined tokens are always recognised, as in llama.cpp. Matching is leftmost-longest.
    // Any bytes are accepted: invalid UTF-8 is byte-tokenised (llama) or read as U+FFFD (gpt2).
    // Fallbacks for text the vocabulary cannot spell: llama: a character's <0xXX> byte tokens,
    // else one <unk>; gpt2: each byte's token, else <unk>; with neither, the bytes are dropped.
    // llama: the dummy-prefix space goes before the text and before text that follows a special
    // token (llama.cpp's and SentencePiece's "legacy" behaviour: "<s>[INST]" -> <s> "▁[INST]").
    std::vector<std::int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;

    // The bytes token `id` stands for: byte tokens give their byte, "▁" reads as " " (llama),
    // GPT-2's byte mapping is reversed (gpt2), Control/Unknown/UserDefined tokens give their text,
    // Unused and Undefined tokens give "". May be part of a multi-byte UTF-8 character.
    // Throws ConfigError for an id outside the vocabulary.
    const std::string& token_piece(std::int32_t id) const;

    // The pieces of `ids` concatenated; skip_special leaves out Control and Unknown tokens.
    // The bytes are exactly the pieces' (possibly invalid UTF-8 if `ids` ends inside a
    // character); a leading dummy-prefix space is kept: the text of encode("Hi") with llama is
    // " Hi" (strip it with add_space_prefix() if wanted). Throws ConfigError for a bad id.
    std::string decode(std::span<const std::int32_t> ids, bool skip_special) const;

    std::int32_t vocab_size() const { return static_cast<std::int32_t>(tokens_.size()); }
    Model model() const { return model_; }
    PreTokenizerKind pre_tokenizer() const { return pre_; }
    std::int32_t bos_id() const { return bos_id_; }
    std::int32_t eos_id() const { return eos_id_; }
    std::int32_t eot_id() const { return eot_id_; }
    std::int32_t unk_id() const { return unk_id_; }
    std::int32_t pad_id() const { return pad_id_; }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool add_space_prefix() const { return add_space_prefix_; }

    bool is_eog(std::int32_t id) const;  // eos, eot or one of the spec's eog_ids
    bool is_control(std::int32_t id) const;
    TokenType token_type(std::int32_t id) const;  // Undefined for an id outside the vocabulary
    float token_score(std::int32_t id) const;
    const std::string& token_text(std::int32_t id) const;  // the vocabulary string; ConfigError if bad
    std::optional<std::int32_t> find_token(std::string_view text) const;
    std::vector<std::int32_t> eog_ids() const;

    // Things a user may want to know about (e.g. an unknown pre-tokenizer replaced by GPT-2's).
    const std::vector<std::string>& warnings() const { return warnings_; }

private:
    struct StringHash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using StringMap = std::unordered_map<std::string, std::int32_t, StringHash, std::equal_to<>>;

    // Byte tries over special-token texts, for leftmost-longest matching.
    struct SpecialMatcher {
        struct Node {
            std::int32_t first_child = -1;
            std::int32_t next_sibling = -1;
            std::int32_t token = -1;
            unsigned char byte = 0;
        };
        std::vector<Node> nodes = std::vector<Node>(1);  // nodes[0] is the root
        void add(std::string_view text, std::int32_t token);
        // Length and id of the longest special text starting at text[pos]; {0, -1} if none.
        std::pair<std::size_t, std::int32_t> longest_match(std::string_view text, std::size_t pos) const;
        bool empty() const { return nodes.size() == 1; }
    };

    struct TokenData {
        std::string text;
        float score = 0.0f;
        TokenType type = TokenType::Normal;
    };

    std::optional<std::int32_t> lookup(std::string_view text) const;
    void check_id(std::int32_t id) const;
    std::string make_piece(std::int32_t id) const;
    // One run of text between special tokens. Defined in tokenizer_spm.cpp / tokenizer_bpe.cpp.
    void encode_spm(std::string_view text, bool after_special, std::vector<std::int32_t>& out) const;
    void encode_bpe(std::string_view text, std::vector<std::int32_t>& out) const;
    // Byte fallback: each byte's token, or <unk> for a byte without one.
    void append_byte_tokens(std::string_view bytes, std::vector<std::int32_t>& out) const;
    bool has_byte_tokens(std::string_view bytes) const;

    Model model_ = Model::Spm;
    PreTokenizerKind pre_ = PreTokenizerKind::Gpt2;
    bool ignore_merges_ = false;  // Llama-3: a word that is a whole token is not merged
    std::vector<TokenData> tokens_;
    std::vector<std::string> pieces_;  // token_piece, precomputed
    std::vector<bool> eog_;
    StringMap token_ids_;                        // text -> the lowest id with that text
    StringMap merge_ranks_;                      // "left right" -> rank (gpt2)
    std::array<std::int32_t, 256> byte_tokens_;  // byte -> <0xXX> token (llama) or mapped char (gpt2)
    std::size_t max_token_bytes_ = 0;
    SpecialMatcher all_specials_;   // Control, Unknown, UserDefined
    SpecialMatcher user_specials_;  // UserDefined only
    std::int32_t bos_id_ = -1, eos_id_ = -1, eot_id_ = -1, unk_id_ = -1, pad_id_ = -1;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false;
    std::vector<std::string> warnings_;
};

}  // namespace kvscope
