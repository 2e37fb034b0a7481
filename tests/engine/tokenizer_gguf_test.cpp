// Tokenizers read from GGUF metadata: the real stories260K vocabulary (golden ids from llama2.c,
// see shared/models/README.md), and small GGUF files assembled byte by byte in the test.

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/detokenizer.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/tokenizer.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace tokenizer_gguf_test {

using Ids = std::vector<std::int32_t>;

TEST(TokenizerGguf, Stories260KSpec) {
    const GgufFile file = GgufFile::open(test::stories260k_path().string());
    const TokenizerSpec spec = tokenizer_spec_from_gguf(file);
    EXPECT_EQ(spec.model, "llama");
    EXPECT_EQ(spec.tokens.size(), 512u);
    EXPECT_EQ(spec.scores.size(), 512u);
    EXPECT_EQ(spec.token_types.size(), 512u);
    EXPECT_EQ(spec.tokens[1], "<s>");
    EXPECT_EQ(spec.tokens[3], "<0x00>");
    EXPECT_EQ(spec.unk_id, 0);
    EXPECT_EQ(spec.bos_id, 1);
    EXPECT_EQ(spec.eos_id, 2);
    EXPECT_EQ(spec.pad_id, -1);  // stored as 4294967295: "none"
    EXPECT_TRUE(spec.add_bos);
    EXPECT_FALSE(spec.add_eos);
    EXPECT_TRUE(spec.add_space_prefix);
    EXPECT_EQ(spec.token_types[0], TokenType::Unknown);
    EXPECT_EQ(spec.token_types[1], TokenType::Control);
    EXPECT_EQ(spec.token_types[3], TokenType::Byte);
}

TEST(TokenizerGguf, Stories260KGoldenTokens) {
    const GgufFile file = GgufFile::open(test::stories260k_path().string());
    const Tokenizer tok(tokenizer_spec_from_gguf(file));
    EXPECT_EQ(tok.vocab_size(), 512);
    // llama2.c: "Once upon a time" with BOS and the dummy-prefix space.
    EXPECT_EQ(tok.encode("Once upon a time", true, false), (Ids{1, 403, 407, 261, 378}));
    EXPECT_EQ(tok.decode(Ids{432, 383, 286, 261, 376}, true), ", there was a little");
    const Ids continuation = {432, 383, 286, 261, 376, 298, 315, 421, 395, 317,
                              426, 338, 401, 396, 267, 337, 410, 408, 419, 292};
    const std::string expected = ", there was a little girl named Lily. She loved to play outsid";
    EXPECT_EQ(tok.decode(continuation, true), expected);
    StreamingDetokenizer detok(tok);
    std::string streamed;
    for (std::int32_t id : continuation) detok.push(id, streamed);
    detok.flush(streamed);
    EXPECT_EQ(streamed, expected);
    // Round trip of the prompt (behind the dummy-prefix space) and of a newline (byte token).
    EXPECT_EQ(tok.decode(tok.encode("Once upon a time", true, false), true), " Once upon a time");
    EXPECT_EQ(tok.encode("\n", false, false), (Ids{tok.find_token("\xE2\x96\x81").value_or(-1), 3 + '\n'}));
    EXPECT_TRUE(tok.is_eog(2));
    EXPECT_FALSE(tok.is_eog(1));
    // A story model: no chat template, so chat is plain continuation.
    const ChatTemplate chat = ChatTemplate::for_model(file.get_string("tokenizer.chat_template").value_or(""), tok);
    EXPECT_EQ(chat.kind(), ChatTemplateKind::Plain);
}

// ---- small GGUF files built by hand (GGUF v3, little-endian, no tensors) ----

class GgufBytes {
public:
    GgufBytes& string(const std::string& key, const std::string& value) {
        begin_kv(key, 8);
        put_string(value);
        return *this;
    }
    GgufBytes& u32(const std::string& key, std::uint32_t value) {
        begin_kv(key, 4);
        put(value);
        return *this;
    }
    GgufBytes& boolean(const std::string& key, bool value) {
        begin_kv(key, 7);
        put(static_cast<std::uint8_t>(value ? 1 : 0));
        return *this;
    }
    GgufBytes& strings(const std::string& key, const std::vector<std::string>& values) {
        begin_kv(key, 9);
        put(std::uint32_t{8});
        put(static_cast<std::uint64_t>(values.size()));
        for (const std::string& v : values) put_string(v);
        return *this;
    }
    GgufBytes& floats(const std::string& key, const std::vector<float>& values) {
        begin_kv(key, 9);
        put(std::uint32_t{6});
        put(static_cast<std::uint64_t>(values.size()));
        for (float v : values) put(v);
        return *this;
    }
    GgufBytes& int32s(const std::string& key, const std::vector<std::int32_t>& values) {
        begin_kv(key, 9);
        put(std::uint32_t{5});
        put(static_cast<std::uint64_t>(values.size()));
        for (std::int32_t v : values) put(v);
        return *this;
    }
    // The file: header, metadata, padding to the 32-byte alignment (no tensor data).
    std::vector<std::uint8_t> finish() const {
        std::vector<std::uint8_t> out;
        auto append = [&out](const void* p, std::size_t n) {
            const auto* b = static_cast<const std::uint8_t*>(p);
            out.insert(out.end(), b, b + n);
        };
        append("GGUF", 4);
        const std::uint32_t version = 3;
        const std::uint64_t num_tensors = 0;
        append(&version, 4);
        append(&num_tensors, 8);
        append(&num_kv_, 8);
        out.insert(out.end(), body_.begin(), body_.end());
        while (out.size() % 32 != 0) out.push_back(0);
        return out;
    }

private:
    template <typename T>
    void put(T value) {
        const auto* b = reinterpret_cast<const std::uint8_t*>(&value);
        body_.insert(body_.end(), b, b + sizeof(T));
    }
    void put_string(const std::string& s) {
        put(static_cast<std::uint64_t>(s.size()));
        body_.insert(body_.end(), s.begin(), s.end());
    }
    void begin_kv(const std::string& key, std::uint32_t type) {
        ++num_kv_;
        put_string(key);
        put(type);
    }
    std::vector<std::uint8_t> body_;
    std::uint64_t num_kv_ = 0;
};

GgufBytes bpe_file(const std::string& pre) {
    GgufBytes g;
    g.string("general.architecture", "qwen2")
        .string("tokenizer.ggml.model", "gpt2")
        .string("tokenizer.ggml.pre", pre)
        .strings("tokenizer.ggml.tokens", {"a", "b", "ab", "<|endoftext|>", "<|im_start|>", "<|im_end|>"})
        .int32s("tokenizer.ggml.token_type", {1, 1, 1, 3, 3, 3})
        .strings("tokenizer.ggml.merges", {"a b"})
        .u32("tokenizer.ggml.eos_token_id", 3);
    return g;
}

TokenizerSpec spec_of(const std::vector<std::uint8_t>& bytes) {
    const GgufFile file = GgufFile::from_memory(bytes, "test.gguf");
    return tokenizer_spec_from_gguf(file);
}

// The error is a one-line ModelError naming the file and containing `fragment`.
void expect_model_error(const std::vector<std::uint8_t>& bytes, const std::string& fragment) {
    try {
        spec_of(bytes);
        ADD_FAILURE() << "no error, expected one about " << fragment;
    } catch (const ModelError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("test.gguf"), std::string::npos) << message;
        EXPECT_NE(message.find(fragment), std::string::npos) << message;
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
}

TEST(TokenizerGguf, BpeDefaultsAndSpecialTokens) {
    const TokenizerSpec qwen = spec_of(bpe_file("qwen2").finish());
    EXPECT_EQ(qwen.model, "gpt2");
    EXPECT_EQ(qwen.merges, (std::vector<std::string>{"a b"}));
    EXPECT_FALSE(qwen.add_bos);
    EXPECT_FALSE(qwen.add_space_prefix);
    EXPECT_EQ(qwen.bos_id, -1);
    EXPECT_EQ(qwen.eos_id, 3);
    EXPECT_EQ(qwen.eot_id, 3);  // the first end-of-turn text in id order: <|endoftext|>
    EXPECT_EQ(qwen.eog_ids, (Ids{3, 5}));
    const Tokenizer tok(qwen);
    EXPECT_EQ(tok.encode("<|im_start|>ab<|im_end|>", true, true), (Ids{4, 2, 5}));
    EXPECT_TRUE(tok.is_eog(5));

    // Llama-3's pre-tokenizer adds BOS unless the file says otherwise.
    GgufBytes llama3 = bpe_file("llama-bpe");
    llama3.u32("tokenizer.ggml.bos_token_id", 4);
    EXPECT_TRUE(spec_of(llama3.finish()).add_bos);
    llama3.boolean("tokenizer.ggml.add_bos_token", false);
    EXPECT_FALSE(spec_of(llama3.finish()).add_bos);
}

TEST(TokenizerGguf, LlamaDefaultsWhenKeysAreAbsent) {
    GgufBytes g;
    g.string("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>",
                                           "\xE2\x96\x81"
                                           "a"})
        .floats("tokenizer.ggml.scores", {0, 0, 0, -1})
        .u32("tokenizer.ggml.padding_token_id", 0xFFFFFFFFu);
    const TokenizerSpec spec = spec_of(g.finish());
    EXPECT_EQ(spec.unk_id, 0);
    EXPECT_EQ(spec.bos_id, 1);
    EXPECT_EQ(spec.eos_id, 2);
    EXPECT_EQ(spec.pad_id, -1);
    EXPECT_TRUE(spec.add_bos);
    EXPECT_TRUE(spec.add_space_prefix);
    EXPECT_EQ(Tokenizer(spec).encode("a", true, false), (Ids{1, 3}));
    g.boolean("tokenizer.ggml.add_space_prefix", false);
    EXPECT_FALSE(spec_of(g.finish()).add_space_prefix);
}

TEST(TokenizerGguf, BadTokenizersAreModelErrors) {
    GgufBytes no_tokenizer;
    no_tokenizer.string("general.architecture", "llama");
    expect_model_error(no_tokenizer.finish(), "tokenizer.ggml.model");

    GgufBytes bert;
    bert.string("tokenizer.ggml.model", "bert").strings("tokenizer.ggml.tokens", {"a"});
    expect_model_error(bert.finish(), "'bert'");

    GgufBytes no_tokens;
    no_tokens.string("tokenizer.ggml.model", "llama");
    expect_model_error(no_tokens.finish(), "tokenizer.ggml.tokens");

    GgufBytes scores;
    scores.string("tokenizer.ggml.model", "llama")
        .strings("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>"})
        .floats("tokenizer.ggml.scores", {0, 0});
    expect_model_error(scores.finish(), "tokenizer.ggml.scores");

    GgufBytes bos = bpe_file("qwen2");
    bos.u32("tokenizer.ggml.bos_token_id", 6);
    expect_model_error(bos.finish(), "tokenizer.ggml.bos_token_id");

    GgufBytes no_merges;
    no_merges.string("tokenizer.ggml.model", "gpt2").strings("tokenizer.ggml.tokens", {"a"});
    expect_model_error(no_merges.finish(), "tokenizer.ggml.merges");
}

}  // namespace tokenizer_gguf_test
}  // namespace kvscope
