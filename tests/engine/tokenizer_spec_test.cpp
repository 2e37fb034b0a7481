// TokenizerSpec validation (one-line ModelErrors) and llama.cpp's special-token conventions.

#include <gtest/gtest.h>

#include <string>

#include "engine/error.h"
#include "engine/tokenizer.h"

namespace kvscope {
namespace tokenizer_spec_test {

TokenizerSpec small_spec() {
    TokenizerSpec spec;
    spec.model = "llama";
    spec.tokens = {"<unk>", "<s>", "</s>", "a", "b"};
    spec.scores = {0, 0, 0, -1, -2};
    spec.token_types = {TokenType::Unknown, TokenType::Control, TokenType::Control, TokenType::Normal,
                        TokenType::Normal};
    spec.unk_id = 0;
    spec.bos_id = 1;
    spec.eos_id = 2;
    spec.add_bos = true;
    return spec;
}

// Validation fails with a one-line ModelError mentioning every fragment in `expected`.
void expect_invalid(const TokenizerSpec& spec, std::initializer_list<std::string> expected) {
    try {
        validate_tokenizer_spec(spec, "model.gguf");
        ADD_FAILURE() << "no error";
    } catch (const ModelError& e) {
        const std::string message = e.what();
        EXPECT_EQ(message.find('\n'), std::string::npos) << message;
        EXPECT_EQ(message.rfind("model.gguf: ", 0), 0u) << message;
        for (const std::string& fragment : expected) {
            EXPECT_NE(message.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << message;
        }
    }
}

TEST(TokenizerSpec, AValidSpecPasses) {
    EXPECT_NO_THROW(validate_tokenizer_spec(small_spec(), "model.gguf"));
    TokenizerSpec bpe = small_spec();
    bpe.model = "gpt2";
    bpe.merges = {"a b", "ab b"};
    EXPECT_NO_THROW(validate_tokenizer_spec(bpe, "model.gguf"));
}

TEST(TokenizerSpec, InvalidSpecsAreModelErrors) {
    TokenizerSpec spec = small_spec();
    spec.model = "bert";
    expect_invalid(spec, {"'bert'", "tokenizer.ggml.model"});

    spec = small_spec();
    spec.tokens.clear();
    expect_invalid(spec, {"tokenizer.ggml.tokens"});

    spec = small_spec();
    spec.scores.pop_back();
    expect_invalid(spec, {"tokenizer.ggml.scores", "4", "5"});

    spec = small_spec();
    spec.token_types.push_back(TokenType::Normal);
    expect_invalid(spec, {"tokenizer.ggml.token_type", "6"});

    spec = small_spec();
    spec.bos_id = 5;
    expect_invalid(spec, {"tokenizer.ggml.bos_token_id", "5"});

    spec = small_spec();
    spec.eos_id = -7;
    expect_invalid(spec, {"tokenizer.ggml.eos_token_id", "-7"});

    spec = small_spec();
    spec.eot_id = 99;
    expect_invalid(spec, {"tokenizer.ggml.eot_token_id", "99"});

    spec = small_spec();
    spec.eog_ids = {3, 42};
    expect_invalid(spec, {"42"});

    spec = small_spec();
    spec.bos_id = -1;
    expect_invalid(spec, {"add_bos_token", "bos_token_id"});

    spec = small_spec();
    spec.model = "gpt2";
    spec.merges = {"a b", "ab"};
    expect_invalid(spec, {"tokenizer.ggml.merges[1]", "'ab'"});
    spec.merges = {" a"};
    expect_invalid(spec, {"tokenizer.ggml.merges[0]"});
    spec.merges = {"a "};
    expect_invalid(spec, {"tokenizer.ggml.merges[0]"});
}

TEST(TokenizerSpec, TheTokenizerValidatesToo) {
    TokenizerSpec spec = small_spec();
    spec.unk_id = 17;
    EXPECT_THROW(Tokenizer{spec}, ModelError);
}

TEST(TokenizerSpec, InferSpecialTokensFindsEndOfTurnTokensByText) {
    TokenizerSpec spec;
    spec.model = "gpt2";
    spec.tokens = {"a", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "b"};
    spec.token_types = {TokenType::Normal, TokenType::Control, TokenType::Control, TokenType::Normal,
                        TokenType::Normal};
    spec.eos_id = 1;
    infer_special_tokens(spec);
    // The first end-of-turn text in id order is <|endoftext|>, as llama.cpp would pick... among
    // texts it knows; both it and <|im_end|> end generation.
    EXPECT_EQ(spec.eot_id, 1);
    EXPECT_EQ(spec.eog_ids, (std::vector<std::int32_t>{1, 3}));
    EXPECT_EQ(spec.token_types[3], TokenType::Control);  // <|im_end|> was mistyped as Normal
    EXPECT_EQ(spec.token_types[2], TokenType::Control);
    EXPECT_EQ(spec.token_types[4], TokenType::Normal);

    const Tokenizer tok(spec);
    EXPECT_TRUE(tok.is_eog(3));
    EXPECT_TRUE(tok.is_control(3));
    EXPECT_FALSE(tok.is_eog(2));
}

TEST(TokenizerSpec, InferSpecialTokensKeepsAGivenEotAndFillsMissingTypes) {
    TokenizerSpec spec;
    spec.model = "llama";
    spec.tokens = {"<unk>", "<s>", "</s>", "<|eot_id|>", "<|eom_id|>", "<end_of_turn>"};
    spec.eos_id = 2;
    spec.eot_id = 5;
    infer_special_tokens(spec);
    EXPECT_EQ(spec.eot_id, 5);
    EXPECT_EQ(spec.eog_ids, (std::vector<std::int32_t>{2, 3, 4, 5}));
    ASSERT_EQ(spec.token_types.size(), spec.tokens.size());
    EXPECT_EQ(spec.token_types[0], TokenType::Normal);
    EXPECT_EQ(spec.token_types[4], TokenType::Control);
}

}  // namespace tokenizer_spec_test
}  // namespace kvscope
