// Perplexity (engine/perplexity.h) against the naive reference forward pass: the same chunks cut
// by hand, the same tokens scored, the same estimate and error computed here in plain loops; the
// chunking rules (BOS, whole chunks, the chunk limit); engine settings that must not change it;
// and the errors.

#include "engine/perplexity.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "tests/support/reference_model.h"

namespace kvscope {
namespace perplexity_test {

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

const std::string kText =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her "
    "friends. One day, she saw a big red ball under a tree and ran to get it. The ball was stuck, so she asked "
    "her mom for help. Her mom smiled and said, \"Let's get it together.\" They pulled and pulled, and the ball "
    "came down. Lily was so happy. She said thank you and played with the ball all day. The next day, Tom came "
    "to the park. He had a little dog named Spot. Spot liked to run and jump. Lily threw the ball and Spot ran "
    "after it.";

std::vector<std::int32_t> text_tokens() {
    return embedded()->tokenizer().encode(kText, /*add_special=*/true, false);
}

// -log p(token) for every scored token, by the reference model over chunks cut here.
std::vector<double> reference_nlls(const std::vector<std::int32_t>& tokens, std::int32_t context, std::int32_t first) {
    test::ReferenceModel reference(embedded()->gguf());
    std::vector<double> nlls;
    for (std::size_t start = 0; start + static_cast<std::size_t>(context) <= tokens.size(); start += context) {
        std::vector<std::int32_t> chunk(tokens.begin() + static_cast<std::ptrdiff_t>(start),
                                        tokens.begin() + static_cast<std::ptrdiff_t>(start) + context);
        chunk[0] = 1;  // the embedded tokenizer's BOS
        const std::vector<std::vector<float>> logits = reference.forward(chunk);
        for (std::int32_t j = first; j + 1 < context; ++j) {
            const std::vector<float>& row = logits[static_cast<std::size_t>(j)];
            const double max = *std::max_element(row.begin(), row.end());
            double total = 0.0;
            for (const float l : row) total += std::exp(l - max);
            nlls.push_back(
                -(row[static_cast<std::size_t>(chunk[static_cast<std::size_t>(j) + 1])] - max - std::log(total)));
        }
    }
    return nlls;
}

PerplexityEstimate measure(const EngineConfig& config, const PerplexityOptions& options,
                           std::vector<std::int32_t>* reported = nullptr) {
    const auto chunks = perplexity_chunks(text_tokens(), embedded()->tokenizer(), options);
    Engine engine(embedded(), config);
    const std::vector<PerplexityChunk> results = run_perplexity(engine, chunks, options, [&](const PerplexityChunk& c) {
        if (reported) reported->push_back(c.index);
    });
    return estimate_perplexity(results);
}

TEST(Perplexity, MatchesTheReferenceForward) {
    const std::vector<std::int32_t> tokens = text_tokens();
    ASSERT_GE(tokens.size(), 128u);
    for (const bool score_all : {false, true}) {
        SCOPED_TRACE(score_all ? "score all" : "second half");
        PerplexityOptions options;
        options.context = 32;
        options.score_all = score_all;
        const std::vector<double> nlls = reference_nlls(tokens, 32, score_all ? 0 : 16);
        const double n = static_cast<double>(nlls.size());
        double mean = 0.0;
        for (const double x : nlls) mean += x / n;
        double squares = 0.0;
        for (const double x : nlls) squares += (x - mean) * (x - mean);
        const double standard_error = std::sqrt(squares / n / (n - 1));

        std::vector<std::int32_t> reported;
        const PerplexityEstimate e = measure(EngineConfig{}, options, &reported);
        const std::size_t num_chunks = tokens.size() / 32;
        EXPECT_EQ(e.num_scored, static_cast<std::int64_t>(num_chunks) * (score_all ? 31 : 15));
        EXPECT_EQ(e.num_scored, static_cast<std::int64_t>(nlls.size()));
        EXPECT_NEAR(e.nll_mean, mean, 1e-4);
        EXPECT_NEAR(e.ppl, std::exp(mean), 1e-4 * std::exp(mean));
        EXPECT_NEAR(e.ppl_error, std::exp(mean) * standard_error, 1e-3 * e.ppl_error);
        ASSERT_EQ(reported.size(), num_chunks);  // every chunk, in text order
        for (std::size_t i = 0; i < reported.size(); ++i) EXPECT_EQ(reported[i], static_cast<std::int32_t>(i));
    }
}

// The cache's block size, chunked prefill and a cache too small for every chunk at once change
// how the work is cut, not what is measured.
TEST(Perplexity, DoesNotDependOnHowTheEngineSchedules) {
    PerplexityOptions options;
    options.context = 48;
    const PerplexityEstimate base = measure(EngineConfig{}, options);
    EngineConfig tight;
    tight.block_size = 8;
    tight.max_num_batched_tokens = 20;
    tight.num_kv_blocks = 14;  // two chunks' worth at a time
    tight.max_num_seqs = 3;
    const PerplexityEstimate other = measure(tight, options);
    EXPECT_EQ(other.num_scored, base.num_scored);
    EXPECT_NEAR(other.ppl, base.ppl, 1e-5 * base.ppl);
    // An F16 cache rounds K and V: close, not equal.
    EngineConfig f16;
    f16.cache_dtype = TensorType::F16;
    EXPECT_NEAR(measure(f16, options).ppl, base.ppl, 1e-2 * base.ppl);
}

TEST(Perplexity, ChunksAreWholeStartWithBosAndStopAtTheLimit) {
    std::vector<std::int32_t> tokens(100);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int32_t>(10 + i);
    PerplexityOptions options;
    options.context = 30;
    auto chunks = perplexity_chunks(tokens, embedded()->tokenizer(), options);
    ASSERT_EQ(chunks.size(), 3u);  // the last 10 tokens make no whole chunk
    for (std::size_t c = 0; c < chunks.size(); ++c) {
        ASSERT_EQ(chunks[c].size(), 30u);
        EXPECT_EQ(chunks[c][0], 1);  // BOS in place of the chunk's first token
        for (std::size_t j = 1; j < 30; ++j) EXPECT_EQ(chunks[c][j], static_cast<std::int32_t>(10 + c * 30 + j));
    }
    options.max_chunks = 2;
    EXPECT_EQ(perplexity_chunks(tokens, embedded()->tokenizer(), options).size(), 2u);
    EXPECT_EQ(first_scored_entry(options), 15);
    options.score_all = true;
    EXPECT_EQ(first_scored_entry(options), 0);
}

TEST(Perplexity, BadSettingsSayWhatToChange) {
    const std::vector<std::int32_t> tokens(50, 7);
    PerplexityOptions options;
    options.context = 64;
    try {
        perplexity_chunks(tokens, embedded()->tokenizer(), options);
        FAIL() << "a text shorter than one chunk was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("the text has 50 tokens, fewer than one chunk of 64"), std::string::npos)
            << e.what();
    }
    options.context = 3;
    EXPECT_THROW(perplexity_chunks(tokens, embedded()->tokenizer(), options), ConfigError);

    options.context = 32;
    EngineConfig config;
    config.max_model_len = 32;
    Engine engine(embedded(), config);
    const auto chunks = perplexity_chunks(tokens, embedded()->tokenizer(), options);
    try {
        run_perplexity(engine, chunks, options);
        FAIL() << "a chunk as long as the engine's context was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("needs a context of at least 33"), std::string::npos) << e.what();
    }
}

TEST(Perplexity, AChunkTheCacheCannotHoldIsRefusedAndLeavesTheEngineIdle) {
    PerplexityOptions options;
    options.context = 64;
    EngineConfig config;
    config.num_kv_blocks = 3;  // 48 tokens: no 64-token chunk fits
    Engine engine(embedded(), config);
    const auto chunks = perplexity_chunks(text_tokens(), embedded()->tokenizer(), options);
    try {
        run_perplexity(engine, chunks, options);
        FAIL() << "a chunk larger than the cache was accepted";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("a perplexity chunk of 64 tokens: "), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find("KV blocks"), std::string::npos) << e.what();
        // The advice is perplexity's: it has a context, not max_tokens.
        EXPECT_NE(std::string(e.what()).find("raise the KV cache size or use a smaller context"), std::string::npos)
            << e.what();
        EXPECT_EQ(std::string(e.what()).find("max_tokens"), std::string::npos) << e.what();
    }
    EXPECT_FALSE(engine.has_work());
    EXPECT_TRUE(engine.request_ids().empty());

    config.num_kv_blocks.reset();  // a cache that holds the chunk, but a step of 32 tokens and no chunking
    config.enable_chunked_prefill = false;
    config.max_num_batched_tokens = 32;
    Engine unchunked(embedded(), config);
    try {
        run_perplexity(unchunked, chunks, options);
        FAIL() << "a chunk longer than a step was accepted without chunked prefill";
    } catch (const ConfigError& e) {
        EXPECT_NE(std::string(e.what()).find("max_num_batched_tokens = 32; enable chunked prefill, raise "
                                             "max_num_batched_tokens or use a smaller context"),
                  std::string::npos)
            << e.what();
    }
}

TEST(Perplexity, TheEstimateOfNothingIsEmpty) {
    const PerplexityEstimate e = estimate_perplexity({});
    EXPECT_EQ(e.num_scored, 0);
    EXPECT_EQ(e.ppl, 0.0);
}

}  // namespace perplexity_test
}  // namespace kvscope
