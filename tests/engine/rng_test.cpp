// SequenceRandom and the process seed source, against the published reference outputs of
// xoshiro256** and splitmix64 and against the seeding rule documented in engine/rng.h.

#include "engine/rng.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>
#include <thread>
#include <vector>

namespace kvscope {
namespace rng_test {

// Reference implementation from Vigna's xoshiro256starstar.c, state {1, 2, 3, 4}.
TEST(Rng, XoshiroMatchesReferenceOutputs) {
    SequenceRandom random = SequenceRandom::from_state({1, 2, 3, 4});
    const uint64_t expected[] = {
        11520ull, 0ull, 1509978240ull, 1215971899390074240ull, 1216172134540287360ull, 607988272756665600ull};
    for (const uint64_t value : expected) EXPECT_EQ(random.next_u64(), value);
}

// Reference splitmix64.c from state 0.
TEST(Rng, SplitmixMatchesReferenceOutputs) {
    uint64_t state = 0;
    EXPECT_EQ(splitmix64_next(state), 0xE220A8397B1DCDAFull);
    EXPECT_EQ(splitmix64_next(state), 0x6E789E6AA1B965F4ull);
    EXPECT_EQ(splitmix64_next(state), 0x06C45D188009454Full);
}

TEST(Rng, Uniform01IsTheTop53BitsScaled) {
    SequenceRandom random = SequenceRandom::from_state({1, 2, 3, 4});
    const uint64_t expected[] = {11520ull, 0ull, 1509978240ull, 1215971899390074240ull};
    for (const uint64_t value : expected) {
        EXPECT_EQ(random.uniform01(), static_cast<double>(value >> 11) / 9007199254740992.0);
    }
}

TEST(Rng, Uniform01StaysInUnitIntervalWithMeanHalf) {
    SequenceRandom random(7, 0);
    double sum = 0.0;
    double low = 1.0;
    double high = 0.0;
    const int num_draws = 100000;
    for (int i = 0; i < num_draws; ++i) {
        const double u = random.uniform01();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        sum += u;
        low = std::min(low, u);
        high = std::max(high, u);
    }
    // Standard error of the mean is 1/sqrt(12 * 1e5) ~ 0.0009.
    EXPECT_NEAR(sum / num_draws, 0.5, 0.005);
    EXPECT_LT(low, 1e-3);
    EXPECT_GT(high, 1.0 - 1e-3);
}

// The rule in rng.h: word j = splitmix64(seed)_j XOR rotl(splitmix64(stream ^ C)_j, 32).
TEST(Rng, SeedingFollowsTheDocumentedRule) {
    const uint64_t seed = 0x0123456789ABCDEFull;
    const uint64_t stream = 5;
    uint64_t a = seed;
    uint64_t b = stream ^ 0xD1B54A32D192ED03ull;
    std::array<uint64_t, 4> expected{};
    for (auto& word : expected) {
        const uint64_t y = splitmix64_next(b);
        word = splitmix64_next(a) ^ ((y << 32) | (y >> 32));
    }
    EXPECT_EQ(SequenceRandom(seed, stream).state(), expected);
}

std::vector<uint64_t> draws(SequenceRandom random, int count) {
    std::vector<uint64_t> values(count);
    for (auto& v : values) v = random.next_u64();
    return values;
}

TEST(Rng, SameSeedAndStreamRepeat) {
    EXPECT_EQ(draws(SequenceRandom(42, 3), 1000), draws(SequenceRandom(42, 3), 1000));
}

TEST(Rng, DifferentSeedsAndStreamsDiffer) {
    const auto base = draws(SequenceRandom(42, 0), 16);
    EXPECT_NE(base, draws(SequenceRandom(43, 0), 16));
    EXPECT_NE(base, draws(SequenceRandom(42, 1), 16));
    EXPECT_NE(draws(SequenceRandom(1, 2), 16), draws(SequenceRandom(2, 1), 16));
    // No two of 64 seeds x 64 streams share a first output.
    std::set<uint64_t> firsts;
    for (uint64_t seed = 0; seed < 64; ++seed) {
        for (uint64_t stream = 0; stream < 64; ++stream) firsts.insert(SequenceRandom(seed, stream).next_u64());
    }
    EXPECT_EQ(firsts.size(), 64u * 64u);
}

TEST(Rng, ProcessSeedSourceIsASplitmixCounter) {
    reset_process_seed(0);
    EXPECT_EQ(draw_process_seed(), 0xE220A8397B1DCDAFull);
    EXPECT_EQ(resolve_seed(std::nullopt), 0x6E789E6AA1B965F4ull);
    EXPECT_EQ(resolve_seed(99), 99u);  // a request's own seed is used as is, and draws nothing
    EXPECT_EQ(draw_process_seed(), 0x06C45D188009454Full);
}

TEST(Rng, ProcessSeedsAreDistinctAcrossThreads) {
    std::vector<std::vector<uint64_t>> seeds(4);
    std::vector<std::thread> threads;
    for (auto& out : seeds) {
        threads.emplace_back([&out] {
            for (int i = 0; i < 2000; ++i) out.push_back(draw_process_seed());
        });
    }
    for (auto& t : threads) t.join();
    std::set<uint64_t> all;
    for (const auto& out : seeds) all.insert(out.begin(), out.end());
    EXPECT_EQ(all.size(), 4u * 2000u);
}

}  // namespace rng_test
}  // namespace kvscope
