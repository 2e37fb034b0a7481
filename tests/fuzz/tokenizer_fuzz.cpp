// Fuzz target: the tokenizers on any bytes. The first byte picks the tokenizer (bit 0: the
// embedded stories260K SentencePiece one, or a synthetic GPT-2 byte-level BPE one with ChatML
// specials) and the flags (bit 1 add_special, bit 2 parse_special); the rest is the text, which
// is also read as little-endian 16-bit token ids for the decoders. Invariants:
//   - every id encode() returns is inside the vocabulary;
//   - round trip without special parsing: SentencePiece gives back " " + text with "▁" as " "
//     (the dummy prefix; byte fallback spells any bytes); GPT-2 gives back the text with
//     ill-formed UTF-8 replaced by U+FFFD (utf8_sanitize);
//   - GPT-2 with special parsing still gives back the text (specials decode to their texts);
//   - the streaming detokenizer's pieces are valid UTF-8 and add up to utf8_sanitize(decode()),
//     for encoded ids and for arbitrary in-range ids.

#include <unistd.h>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/detokenizer.h"
#include "engine/gguf.h"
#include "engine/synthetic_model.h"
#include "engine/tokenizer.h"
#include "engine/unicode.h"
#include "resources/embedded_model.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

using kvscope::Tokenizer;

const Tokenizer& stories_tokenizer() {
    static const Tokenizer t(
        kvscope::tokenizer_spec_from_gguf(kvscope::GgufFile::from_memory(kvscope::embedded_model_bytes(), "stories")));
    return t;
}

const Tokenizer& gpt2_tokenizer() {
    static const std::unique_ptr<Tokenizer> t = [] {
        kvscope::SyntheticModelSpec spec;
        spec.tokenizer = "gpt2";
        spec.num_layers = 1;
        spec.dim = 8;
        spec.ffn_dim = 8;
        spec.num_heads = 2;
        spec.num_kv_heads = 1;
        spec.vocab_size = 1024;
        const auto path =
            std::filesystem::temp_directory_path() / ("kvscope-fuzz-gpt2-" + std::to_string(::getpid()) + ".gguf");
        kvscope::write_synthetic_model(spec, path.string());
        auto tok = std::make_unique<Tokenizer>(kvscope::tokenizer_spec_from_gguf(kvscope::GgufFile::open(path)));
        std::filesystem::remove(path);
        return tok;
    }();
    return *t;
}

std::string replace_all(std::string s, std::string_view from, std::string_view to) {
    for (std::size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
        s.replace(pos, from.size(), to);
    }
    return s;
}

void check_streaming(const Tokenizer& tok, const std::vector<std::int32_t>& ids) {
    kvscope::StreamingDetokenizer detok(tok, true);
    std::string all;
    for (std::int32_t id : ids) {
        const std::string piece = detok.push(id);
        FUZZ_CHECK(kvscope::utf8_is_valid(piece));
        all += piece;
    }
    const std::string rest = detok.flush();
    FUZZ_CHECK(kvscope::utf8_is_valid(rest));
    all += rest;
    FUZZ_CHECK(all == kvscope::utf8_sanitize(tok.decode(ids, true)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const bool gpt2 = (data[0] & 1) != 0;
    const bool add_special = (data[0] & 2) != 0;
    const bool parse_special = (data[0] & 4) != 0;
    const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
    const Tokenizer& tok = gpt2 ? gpt2_tokenizer() : stories_tokenizer();

    const std::vector<std::int32_t> ids = tok.encode(text, add_special, parse_special);
    for (std::int32_t id : ids) FUZZ_CHECK(id >= 0 && id < tok.vocab_size());
    const std::string decoded = tok.decode(ids, false);

    if (!add_special && !parse_special) {
        if (gpt2) {
            FUZZ_CHECK(decoded == kvscope::utf8_sanitize(text));
        } else {
            const std::string spaced = replace_all(text, "\xE2\x96\x81", " ");
            FUZZ_CHECK(decoded == (text.empty() ? "" : " " + spaced));
        }
    }
    if (gpt2 && parse_special && !add_special) FUZZ_CHECK(decoded == kvscope::utf8_sanitize(text));
    check_streaming(tok, ids);

    // The same bytes as token ids, folded into the vocabulary.
    std::vector<std::int32_t> raw;
    for (std::size_t i = 1; i + 1 < size; i += 2) {
        raw.push_back(static_cast<std::int32_t>((data[i] | (data[i + 1] << 8)) % tok.vocab_size()));
    }
    check_streaming(tok, raw);
    return 0;
}
