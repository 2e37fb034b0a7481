// Paged attention against a naive reference: plain loops in double over each sequence's
// contiguous, un-paged K and V. Batches mix decodes, whole prefills and chunked prefills over
// shuffled block tables, for each cache dtype, block size, GQA ratio and head dim.

#include "kernels/paged_attention.h"
#include "tests/support/param_print.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>
#include <numeric>
#include <random>
#include <vector>

// Every heap allocation of this test program is counted, to check that the kernels make none.
// (GCC 12 warns that the free() below pairs with operator new once both are inlined; they are
// replaced together, so the pairing is right.)
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
std::atomic<std::int64_t> g_num_allocations{0};

void* operator new(std::size_t size) {
    g_num_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace kvscope {
namespace paged_attention_test {

float f16_value(std::uint16_t bits) {
    _Float16 h;
    std::memcpy(&h, &bits, 2);
    return static_cast<float>(h);
}

struct Shape {
    TensorType dtype;
    int block_size;
    int num_kv_heads;
    int group;  // query heads per kv head
    int head_dim;
    int num_heads() const { return num_kv_heads * group; }
    int row() const { return num_kv_heads * head_dim; }
};

struct SeqSpec {
    int seq_len;    // cached + new
    int query_len;  // new tokens, the last of the sequence
};

// A batch with its paged cache, and the same K / V kept contiguous per sequence.
struct Scenario {
    Shape shape;
    std::vector<SeqSpec> seqs;
    std::vector<std::vector<float>> k, v;  // per sequence (seq_len, num_kv_heads, head_dim), as written
    std::vector<float> q;                  // (num_tokens, num_heads, head_dim)
    std::vector<std::int32_t> query_start, seq_lens, block_tables;
    std::int32_t max_blocks_per_seq = 0;
    std::vector<std::byte> k_cache, v_cache;
    PagedKvLayer layer;

    AttentionBatch batch() const { return {query_start, seq_lens, block_tables, max_blocks_per_seq}; }
    std::int64_t num_tokens() const { return query_start.back(); }

    // The physical slot of position p of sequence s, from its block table.
    std::int64_t slot(std::size_t s, int p) const {
        return std::int64_t{block_tables[s * max_blocks_per_seq + p / shape.block_size]} * shape.block_size +
               p % shape.block_size;
    }
};

std::vector<float> uniform(std::size_t n, std::mt19937& rng, float amplitude) {
    std::uniform_real_distribution<float> dist(-amplitude, amplitude);
    std::vector<float> x(n);
    for (auto& e : x) e = dist(rng);
    return x;
}

Scenario make_scenario(const Shape& shape, std::vector<SeqSpec> seqs, std::mt19937& rng, float q_amplitude = 1.0f) {
    Scenario sc;
    sc.shape = shape;
    sc.seqs = std::move(seqs);
    const int bs = shape.block_size;
    // 1. a pool with some spare blocks, handed out in shuffled order: tables are not contiguous
    int blocks_needed = 0;
    for (const auto& s : sc.seqs) {
        blocks_needed += (s.seq_len + bs - 1) / bs;
        sc.max_blocks_per_seq = std::max(sc.max_blocks_per_seq, (s.seq_len + bs - 1) / bs);
    }
    sc.max_blocks_per_seq += 1;  // tables wider than needed: the unused tail holds junk ids
    const int num_blocks = blocks_needed + 7;
    std::vector<std::int32_t> ids(num_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    sc.block_tables.assign(sc.seqs.size() * sc.max_blocks_per_seq, -12345);
    std::size_t next = 0;
    for (std::size_t s = 0; s < sc.seqs.size(); ++s) {
        for (int b = 0; b < (sc.seqs[s].seq_len + bs - 1) / bs; ++b) {
            sc.block_tables[s * sc.max_blocks_per_seq + b] = ids[next++];
        }
    }
    // 2. the cache, filled with junk, then every token of every sequence written by slot
    sc.layer = PagedKvLayer{shape.dtype, num_blocks, bs, shape.num_kv_heads, shape.head_dim, nullptr, nullptr};
    sc.k_cache.assign(sc.layer.buffer_bytes(), std::byte{0x5A});
    sc.v_cache.assign(sc.layer.buffer_bytes(), std::byte{0x5A});
    sc.layer.k = sc.k_cache.data();
    sc.layer.v = sc.v_cache.data();
    std::vector<float> k_rows, v_rows;
    std::vector<std::int64_t> slots;
    for (std::size_t s = 0; s < sc.seqs.size(); ++s) {
        sc.k.push_back(uniform(std::size_t(sc.seqs[s].seq_len) * shape.row(), rng, 1.0f));
        sc.v.push_back(uniform(std::size_t(sc.seqs[s].seq_len) * shape.row(), rng, 1.0f));
        k_rows.insert(k_rows.end(), sc.k[s].begin(), sc.k[s].end());
        v_rows.insert(v_rows.end(), sc.v[s].begin(), sc.v[s].end());
        for (int p = 0; p < sc.seqs[s].seq_len; ++p) slots.push_back(sc.slot(s, p));
    }
    write_kv(sc.layer, k_rows.data(), v_rows.data(), slots);
    // 3. query rows, sequence after sequence
    sc.query_start.push_back(0);
    for (const auto& s : sc.seqs) {
        sc.query_start.push_back(sc.query_start.back() + s.query_len);
        sc.seq_lens.push_back(s.seq_len);
    }
    sc.q = uniform(std::size_t(sc.num_tokens()) * shape.num_heads() * shape.head_dim, rng, q_amplitude);
    return sc;
}

// What the cache holds for position p of sequence s, decoded by this test's own reading of
// the dtype's layout (F32 / F16 values, or Q8_0 blocks of f16 d + int8 qs[32]).
std::vector<float> stored_row(const Scenario& sc, const std::vector<std::byte>& cache, std::size_t s, int p) {
    const int row = sc.shape.row();
    const std::byte* src = cache.data() + sc.slot(s, p) * sc.layer.row_bytes();
    std::vector<float> out(row);
    for (int e = 0; e < row; ++e) {
        if (sc.shape.dtype == TensorType::F32) {
            std::memcpy(&out[e], src + 4 * e, 4);
        } else if (sc.shape.dtype == TensorType::F16) {
            std::uint16_t bits;
            std::memcpy(&bits, src + 2 * e, 2);
            out[e] = f16_value(bits);
        } else {
            const std::byte* block = src + (e / 32) * 34;
            std::uint16_t bits;
            std::memcpy(&bits, block, 2);
            out[e] = f16_value(bits) * static_cast<float>(static_cast<std::int8_t>(block[2 + e % 32]));
        }
    }
    return out;
}

// K, V of sequence s as the cache stores them: (seq_len, num_kv_heads, head_dim), contiguous.
std::pair<std::vector<float>, std::vector<float>> stored_kv(const Scenario& sc, std::size_t s) {
    std::vector<float> k, v;
    for (int p = 0; p < sc.seqs[s].seq_len; ++p) {
        const auto kr = stored_row(sc, sc.k_cache, s, p), vr = stored_row(sc, sc.v_cache, s, p);
        k.insert(k.end(), kr.begin(), kr.end());
        v.insert(v.end(), vr.begin(), vr.end());
    }
    return {k, v};
}

// The naive reference for one query row: causal softmax attention in double over contiguous K, V.
std::vector<double> reference_row(const Scenario& sc, std::size_t s, int i, int h, const std::vector<float>& k,
                                  const std::vector<float>& v, float scale) {
    const Shape& sh = sc.shape;
    const int pos = sc.seqs[s].seq_len - sc.seqs[s].query_len + i;
    const int kv_head = h / sh.group;
    const float* q = sc.q.data() + ((std::size_t(sc.query_start[s]) + i) * sh.num_heads() + h) * sh.head_dim;
    std::vector<double> scores(pos + 1);
    double max = -1e300;
    for (int j = 0; j <= pos; ++j) {
        double dot = 0.0;
        for (int d = 0; d < sh.head_dim; ++d)
            dot += double(q[d]) * k[(std::size_t(j) * sh.row()) + kv_head * sh.head_dim + d];
        scores[j] = dot * scale;
        max = std::max(max, scores[j]);
    }
    double sum = 0.0;
    for (double& x : scores) sum += x = std::exp(x - max);
    std::vector<double> out(sh.head_dim, 0.0);
    for (int j = 0; j <= pos; ++j) {
        for (int d = 0; d < sh.head_dim; ++d) {
            out[d] += scores[j] / sum * v[(std::size_t(j) * sh.row()) + kv_head * sh.head_dim + d];
        }
    }
    return out;
}

std::vector<float> run_attention(const Scenario& sc, ThreadPool& pool, float scale, SimdLevel level) {
    std::vector<float> out(sc.q.size(), -777.0f);
    std::vector<std::byte> scratch(
        paged_attention_scratch_bytes(sc.layer, sc.shape.num_heads(), pool.num_threads(), sc.seqs.size()));
    paged_attention(pool, sc.layer, sc.q.data(), out.data(), sc.batch(), sc.shape.num_heads(), scale, scratch, level);
    return out;
}

// Largest error the cache dtype may put on a stored value whose magnitude is at most `amax`:
// F16 rounds to 11 significant bits; Q8_0 is within half a step d = amax/127 of the value, plus
// the rounding of d to f16 over up to 127 steps (d * 127 * 2^-11).
double storage_error(TensorType dtype, double amax) {
    if (dtype == TensorType::F16) return amax * std::ldexp(1.0, -11);
    if (dtype == TensorType::Q8_0) return amax / 127.0 * (0.5 + 127.0 / 2048.0);
    return 0.0;
}

// Checks every query row of the batch: against the reference over the values as stored (this
// is the kernel's own error: tight), and against the reference over the original f32 values
// (the dtype's error: scores move by at most b = scale * |q|_1 * err_k, so every probability
// by a factor within e^(+-2b), and the output by at most (e^(2b) - 1) max|v| + err_v).
void expect_matches_reference(const Scenario& sc, const std::vector<float>& out, float scale) {
    const Shape& sh = sc.shape;
    for (std::size_t s = 0; s < sc.seqs.size(); ++s) {
        const auto [k_stored, v_stored] = stored_kv(sc, s);
        const double err_k = storage_error(sh.dtype, 1.0), err_v = storage_error(sh.dtype, 1.0);  // |k|, |v| <= 1
        for (int i = 0; i < sc.seqs[s].query_len; ++i) {
            for (int h = 0; h < sh.num_heads(); ++h) {
                const std::size_t row = (std::size_t(sc.query_start[s]) + i) * sh.num_heads() + h;
                const float* got = out.data() + row * sh.head_dim;
                const auto exact = reference_row(sc, s, i, h, k_stored, v_stored, scale);
                for (int d = 0; d < sh.head_dim; ++d) {
                    ASSERT_NEAR(got[d], exact[d], 2e-5)
                        << "seq " << s << " query " << i << " head " << h << " dim " << d;
                }
                if (sh.dtype == TensorType::F32) continue;
                const auto original = reference_row(sc, s, i, h, sc.k[s], sc.v[s], scale);
                double q_l1 = 0.0;
                for (int d = 0; d < sh.head_dim; ++d) q_l1 += std::abs(sc.q[row * sh.head_dim + d]);
                const double b = scale * q_l1 * err_k;
                const double tolerance = std::expm1(2.0 * b) * 1.0 + err_v + 2e-5;
                for (int d = 0; d < sh.head_dim; ++d) {
                    ASSERT_NEAR(got[d], original[d], tolerance)
                        << "vs f32: seq " << s << " query " << i << " head " << h;
                }
            }
        }
    }
}

// Six sequences of the three kinds, in random order; some long enough for several online-
// softmax chunks (64 keys) and several query tiles (16 queries).
std::vector<SeqSpec> random_mix(std::mt19937& rng) {
    auto between = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    std::vector<SeqSpec> seqs;
    for (int r = 0; r < 2; ++r) {
        seqs.push_back({between(1, 150), 1});  // decode
        const int prompt = between(1, 40);
        seqs.push_back({prompt, prompt});  // whole prefill
        const int len = between(20, 90);
        seqs.push_back({len, between(2, 20)});  // chunked prefill: the start is cached
    }
    std::shuffle(seqs.begin(), seqs.end(), rng);
    return seqs;
}

class PagedAttentionTest : public testing::TestWithParam<std::tuple<TensorType, int>> {};

TEST_P(PagedAttentionTest, RandomMixedBatchesMatchReference) {
    const auto [dtype, block_size] = GetParam();
    std::mt19937 rng(1000 + static_cast<int>(dtype) * 100 + block_size);
    ThreadPool pool(3);
    for (int group : {1, 2, 4, 8}) {
        for (int head_dim : {8, 64, 128}) {
            // Q8_0 rows must be a multiple of 32 values: 4 kv heads of 8
            const Shape shape{dtype, block_size, head_dim == 8 ? 4 : 2, group, head_dim};
            SCOPED_TRACE(testing::Message() << type_name(dtype) << " block " << block_size << " group " << group
                                            << " head_dim " << head_dim);
            const Scenario sc = make_scenario(shape, random_mix(rng), rng);
            const float scale = 1.0f / std::sqrt(float(head_dim));
            expect_matches_reference(sc, run_attention(sc, pool, scale, active_simd_level()), scale);
            if (HasFatalFailure()) return;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(DtypesAndBlockSizes, PagedAttentionTest,
                         testing::Combine(testing::Values(TensorType::F32, TensorType::F16, TensorType::Q8_0),
                                          testing::Values(8, 16, 32)),
                         [](const auto& info) {
                             return std::string(type_name(std::get<0>(info.param))) + "_block" +
                                    std::to_string(std::get<1>(info.param));
                         });

TEST(PagedAttentionHandTest, TwoKeysGiveKnownWeights) {
    // head_dim 2, one head. Keys k0 = (0, 0), k1 = (ln 3, 0), q = (1, 0), scale 1: scores 0 and
    // ln 3, weights 1/4 and 3/4. Values v0 = (4, 0), v1 = (0, 8): out = (1, 6) for the query at
    // position 1; the query at position 0 sees only k0: out = v0.
    ThreadPool pool(2);
    const Shape shape{TensorType::F32, 4, 1, 1, 2};
    std::mt19937 rng(1);
    Scenario sc = make_scenario(shape, {{2, 2}}, rng);
    const float l3 = std::log(3.0f);
    sc.k[0] = {0, 0, l3, 0};
    sc.v[0] = {4, 0, 0, 8};
    write_kv(sc.layer, sc.k[0].data(), sc.v[0].data(), std::vector<std::int64_t>{sc.slot(0, 0), sc.slot(0, 1)});
    sc.q = {1, 0, 1, 0};
    const auto out = run_attention(sc, pool, 1.0f, active_simd_level());
    EXPECT_NEAR(out[0], 4.0f, 1e-6);
    EXPECT_NEAR(out[1], 0.0f, 1e-6);
    EXPECT_NEAR(out[2], 1.0f, 1e-5);
    EXPECT_NEAR(out[3], 6.0f, 1e-5);
}

TEST(PagedAttentionHandTest, LongSharpDecodeAcrossManyChunks) {
    // 1500 keys (24 chunks) and large scores: the online softmax must rescale correctly
    // when the maximum moves from chunk to chunk.
    ThreadPool pool(2);
    std::mt19937 rng(2);
    for (int block_size : {16, 32}) {
        const Shape shape{TensorType::F32, block_size, 2, 4, 64};
        const Scenario sc = make_scenario(shape, {{1500, 1}, {700, 3}}, rng, 6.0f);
        expect_matches_reference(sc, run_attention(sc, pool, 0.125f, active_simd_level()), 0.125f);
    }
}

TEST(PagedAttentionHandTest, EmptyQueriesAndRowsOutsideTheBatchAreLeftAlone) {
    ThreadPool pool(2);
    std::mt19937 rng(3);
    const Shape shape{TensorType::F32, 8, 2, 2, 8};
    Scenario sc = make_scenario(shape, {{10, 0}, {5, 2}, {30, 0}}, rng);
    // two extra rows past the batch's queries
    const std::size_t row_floats = std::size_t(shape.num_heads()) * shape.head_dim;
    sc.q.resize(sc.q.size() + 2 * row_floats, 0.5f);
    const auto out = run_attention(sc, pool, 0.3f, active_simd_level());
    for (std::size_t e = 2 * row_floats; e < out.size(); ++e) ASSERT_EQ(out[e], -777.0f);
    expect_matches_reference(sc, out, 0.3f);
}

TEST(PagedAttentionHandTest, ResultDoesNotDependOnThreadCount) {
    std::mt19937 rng(4);
    const Shape shape{TensorType::F16, 16, 2, 4, 64};
    const Scenario sc = make_scenario(shape, random_mix(rng), rng);
    ThreadPool one(1), four(4);
    const auto a = run_attention(sc, one, 0.125f, active_simd_level());
    const auto b = run_attention(sc, four, 0.125f, active_simd_level());
    EXPECT_EQ(a, b);  // each row is computed by one thread, in the same order, whoever runs it
}

TEST(PagedAttentionHandTest, WriteKvAndAttentionDoNotAllocate) {
    ThreadPool pool(3);
    std::mt19937 rng(7);
    for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
        const Shape shape{dtype, 16, 2, 4, 64};
        const Scenario sc = make_scenario(shape, random_mix(rng), rng);
        std::vector<float> out(sc.q.size());
        std::vector<std::byte> scratch(
            paged_attention_scratch_bytes(sc.layer, shape.num_heads(), pool.num_threads(), sc.seqs.size()));
        const std::vector<float> rows(std::size_t(shape.row()) * 4, 0.25f);
        const std::vector<std::int64_t> slots = {0, 17, -1, 5};
        const std::int64_t before = g_num_allocations.load();
        write_kv(sc.layer, rows.data(), rows.data(), slots);
        paged_attention(pool, sc.layer, sc.q.data(), out.data(), sc.batch(), shape.num_heads(), 0.125f, scratch);
        EXPECT_EQ(g_num_allocations.load() - before, 0) << type_name(dtype);
    }
}

class PagedAttentionLevelTest : public testing::TestWithParam<SimdLevel> {};

TEST_P(PagedAttentionLevelTest, EqualsScalar) {
    const SimdLevel level = GetParam();
    if (level > detect_simd_level()) {
        GTEST_SKIP() << "this CPU has no " << simd_level_name(level)
                     << " (best: " << simd_level_name(detect_simd_level()) << ")";
    }
    ThreadPool pool(2);
    std::mt19937 rng(5);
    for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
        // 12 and 40: tails after the 8- and 32-wide AVX2 steps (and Q8_0 blocks shared by heads)
        for (int head_dim : {8, 12, 40, 64, 128}) {
            const Shape shape{dtype, 16, 8, 2, head_dim};
            const Scenario sc = make_scenario(shape, random_mix(rng), rng, 3.0f);
            const float scale = 1.0f / std::sqrt(float(head_dim));
            const auto scalar = run_attention(sc, pool, scale, SimdLevel::Scalar);
            const auto simd = run_attention(sc, pool, scale, level);
            for (std::size_t e = 0; e < scalar.size(); ++e) {
                ASSERT_NEAR(simd[e], scalar[e], 1e-5) << type_name(dtype) << " head_dim " << head_dim << " at " << e;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Levels, PagedAttentionLevelTest, testing::Values(SimdLevel::Avx2, SimdLevel::Avx512),
                         [](const auto& info) { return std::string(simd_level_name(info.param)); });

TEST(PagedAttentionDeathTest, SequenceLongerThanItsBlockTableIsABug) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    ThreadPool pool(1);
    std::mt19937 rng(6);
    Scenario sc = make_scenario(Shape{TensorType::F32, 8, 1, 1, 8}, {{16, 1}}, rng);
    sc.seq_lens[0] = 8 * sc.max_blocks_per_seq + 1;
    sc.query_start = {0, 1};
    EXPECT_DEATH(run_attention(sc, pool, 1.0f, SimdLevel::Scalar), "longer than its block table");
}

}  // namespace paged_attention_test
}  // namespace kvscope
