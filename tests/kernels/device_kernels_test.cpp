// The CUDA backend's kernels (kernels/cuda/*_body.h through DeviceOps) against the CPU kernels
// and naive references: embedding gather, RMSNorm, RoPE, SwiGLU/adds/conversions, write_kv,
// block copies, the quantised GEMV and dequantisation, the GEMM, and paged attention (decode,
// prefill, chunked prefill, GQA, split-K). Each test runs on the host emulation of the device
// (always) and on a GPU (skipped with the reason when there is none).

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/elementwise.h"
#include "kernels/fp16.h"
#include "kernels/matmul.h"
#include "kernels/norm.h"
#include "kernels/paged_attention.h"
#include "kernels/paged_kv.h"
#include "kernels/quant.h"
#include "kernels/rope.h"
#include "kernels/thread_pool.h"
#include "tests/support/backends.h"

namespace kvscope {
namespace device_kernels_test {

using cuda::Launch;

std::vector<float> random_values(std::size_t n, std::mt19937& rng, float amplitude = 1.0f) {
    std::uniform_real_distribution<float> dist(-amplitude, amplitude);
    std::vector<float> x(n);
    for (float& v : x) v = dist(rng);
    return x;
}

// Device buffers of one test, freed at its end.
class Buffers {
public:
    explicit Buffers(cuda::DeviceOps& ops) : ops_(ops) {}
    ~Buffers() {
        ops_.synchronize();
        for (void* p : owned_) ops_.release(p);
    }
    template <class T>
    T* put(const std::vector<T>& host) {
        T* p = make<T>(host.size());
        ops_.upload(p, host.data(), host.size() * sizeof(T));
        ops_.synchronize();
        return p;
    }
    template <class T>
    T* make(std::size_t n) {
        void* p = ops_.alloc(std::max<std::size_t>(n * sizeof(T), 16));
        owned_.push_back(p);
        return static_cast<T*>(p);
    }
    template <class T>
    std::vector<T> get(const T* p, std::size_t n) {
        std::vector<T> host(n);
        ops_.download(host.data(), p, n * sizeof(T));
        return host;
    }

private:
    cuda::DeviceOps& ops_;
    std::vector<void*> owned_;
};

class DeviceKernels : public ::testing::TestWithParam<std::string> {
protected:
    void SetUp() override {
        KVSCOPE_SKIP_UNLESS_AVAILABLE(GetParam());
        ops_ = test::make_test_device(GetParam());
    }
    cuda::DeviceOps& ops() { return *ops_; }
    std::mt19937 rng_{1234};

private:
    std::unique_ptr<cuda::DeviceOps> ops_;
};

const TensorType kQuantTypes[] = {TensorType::Q4_0, TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1,
                                  TensorType::Q8_0, TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};
const TensorType kWeightTypes[] = {TensorType::F32,  TensorType::F16,  TensorType::BF16, TensorType::Q4_0,
                                   TensorType::Q4_1, TensorType::Q5_0, TensorType::Q5_1, TensorType::Q8_0,
                                   TensorType::Q4_K, TensorType::Q5_K, TensorType::Q6_K};

// rows x cols weights of `type` from random values, and the same dequantised by the CPU.
struct Weights {
    std::vector<std::uint8_t> bytes;
    std::vector<float> values;  // (rows, cols) as the CPU dequantises them
    std::size_t row_bytes = 0;
};

Weights make_weights(TensorType type, std::int64_t rows, std::int64_t cols, std::mt19937& rng) {
    Weights w;
    w.row_bytes = row_bytes(type, cols);
    w.bytes.resize(w.row_bytes * rows);
    w.values.resize(static_cast<std::size_t>(rows * cols));
    const std::vector<float> src = random_values(static_cast<std::size_t>(rows * cols), rng);
    for (std::int64_t r = 0; r < rows; ++r) {
        quantize_row(type, src.data() + r * cols, w.bytes.data() + r * w.row_bytes, cols);
        dequantize_row(type, w.bytes.data() + r * w.row_bytes, w.values.data() + r * cols, cols);
    }
    return w;
}

TEST_P(DeviceKernels, GemvOfEveryQuantTypeMatchesTheDequantisedWeights) {
    const std::int64_t rows = 37, cols = 512;  // rows not a multiple of the rows per block
    for (TensorType type : kQuantTypes) {
        const Weights w = make_weights(type, rows, cols, rng_);
        for (int n : {1, 3, 8}) {
            Buffers b(ops());
            const std::vector<float> x = random_values(static_cast<std::size_t>(n * cols), rng_);
            float* y = b.make<float>(static_cast<std::size_t>(n * rows));
            const int nt = n == 1 ? 1 : n <= 4 ? 4 : 8;
            ops().gemv(type, nt, {b.put(w.bytes), w.row_bytes, rows, cols, b.put(x), y, n},
                       Launch{static_cast<int>((rows + cuda::kGemvRowsPerBlock - 1) / cuda::kGemvRowsPerBlock), 1, 1,
                              static_cast<std::size_t>(nt) * cuda::kGemvThreads * 4});
            const std::vector<float> got = b.get(y, static_cast<std::size_t>(n * rows));
            for (int t = 0; t < n; ++t) {
                for (std::int64_t r = 0; r < rows; ++r) {
                    double want = 0.0;
                    for (std::int64_t c = 0; c < cols; ++c) want += double(w.values[r * cols + c]) * x[t * cols + c];
                    ASSERT_NEAR(got[t * rows + r], want, 1e-4 * (1.0 + std::abs(want)))
                        << type_name(type) << " n " << n << " token " << t << " row " << r;
                }
            }
        }
    }
}

TEST_P(DeviceKernels, DequantisationToF16MatchesTheCpu) {
    const std::int64_t rows = 5, cols = 512;
    for (TensorType type : kQuantTypes) {
        const Weights w = make_weights(type, rows, cols, rng_);
        Buffers b(ops());
        std::uint16_t* out = b.make<std::uint16_t>(static_cast<std::size_t>(rows * cols));
        ops().dequant_f16(type, {b.put(w.bytes), w.row_bytes, rows, cols, out},
                          Launch{static_cast<int>((rows * cols / 8 + 255) / 256)});
        const std::vector<std::uint16_t> got = b.get(out, static_cast<std::size_t>(rows * cols));
        for (std::size_t i = 0; i < got.size(); ++i) {
            ASSERT_NEAR(fp16_to_f32(got[i]), w.values[i], 1e-3 * (1.0 + std::abs(w.values[i])))
                << type_name(type) << " element " << i;
        }
    }
}

TEST_P(DeviceKernels, GemmOfPlainFloatTypesMatchesANaiveProduct) {
    const std::int64_t rows = 24, cols = 40, n = 5;
    for (TensorType type : {TensorType::F32, TensorType::F16, TensorType::BF16}) {
        const Weights w = make_weights(type, rows, cols, rng_);
        std::vector<float> x = random_values(static_cast<std::size_t>(n * cols), rng_);
        std::vector<std::uint8_t> x_bytes(row_bytes(type, cols) * n);
        for (std::int64_t t = 0; t < n; ++t) {
            quantize_row(type, x.data() + t * cols, x_bytes.data() + t * row_bytes(type, cols), cols);
            dequantize_row(type, x_bytes.data() + t * row_bytes(type, cols), x.data() + t * cols, cols);
        }
        Buffers b(ops());
        const std::int64_t ldy = rows + 3;  // y rows wider than the product: columns beyond stay
        float* y = b.put(std::vector<float>(static_cast<std::size_t>(n * ldy), 7.0f));
        ops().gemm(type, b.put(w.bytes), rows, cols, b.put(x_bytes), n, y, ldy);
        const std::vector<float> got = b.get(y, static_cast<std::size_t>(n * ldy));
        for (std::int64_t t = 0; t < n; ++t) {
            for (std::int64_t r = 0; r < ldy; ++r) {
                double want = 7.0;
                if (r < rows) {
                    want = 0.0;
                    for (std::int64_t c = 0; c < cols; ++c) want += double(w.values[r * cols + c]) * x[t * cols + c];
                }
                ASSERT_NEAR(got[t * ldy + r], want, 1e-4 * (1.0 + std::abs(want))) << type_name(type);
            }
        }
    }
}

TEST_P(DeviceKernels, EmbeddingGatherOfEveryWeightTypeMatchesTheCpu) {
    const std::int64_t vocab = 50, dim = 256;
    const std::vector<std::int32_t> ids{3, 0, 49, 3, 17};
    for (TensorType type : kWeightTypes) {
        const Weights w = make_weights(type, vocab, dim, rng_);
        std::vector<float> want(ids.size() * dim);
        gather_rows(WeightTensor{type, vocab, dim, w.bytes.data()}, ids, want.data());
        Buffers b(ops());
        float* out = b.make<float>(want.size());
        ops().gather({type, b.put(w.bytes), w.row_bytes, dim, b.put(ids), out}, Launch{static_cast<int>(ids.size())});
        const std::vector<float> got = b.get(out, want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            ASSERT_NEAR(got[i], want[i], 1e-6 * (1.0 + std::abs(want[i]))) << type_name(type) << " at " << i;
        }
    }
}

TEST_P(DeviceKernels, RmsNormOfSelectedRowsMatchesTheCpu) {
    const std::int64_t rows = 6, dim = 1000;
    const std::vector<float> x = random_values(static_cast<std::size_t>(rows * dim), rng_, 3.0f);
    const std::vector<float> w = random_values(static_cast<std::size_t>(dim), rng_);
    const std::vector<std::int32_t> pick{5, 0, 2};
    Buffers b(ops());
    float* y = b.make<float>(static_cast<std::size_t>(rows * dim));
    float* ys = b.make<float>(pick.size() * dim);
    const float* xd = b.put(x);
    const float* wd = b.put(w);
    ops().rms_norm({xd, wd, y, nullptr, dim, 1e-5f},
                   Launch{static_cast<int>(rows), 1, 1, cuda::kRmsNormSharedFloats * 4});
    ops().rms_norm({xd, wd, ys, b.put(pick), dim, 1e-5f},
                   Launch{static_cast<int>(pick.size()), 1, 1, cuda::kRmsNormSharedFloats * 4});
    std::vector<float> want(x.size());
    rms_norm(x.data(), w.data(), want.data(), rows, dim, 1e-5f);
    const std::vector<float> got = b.get(y, want.size()), got_sel = b.get(ys, pick.size() * dim);
    for (std::size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * (1.0 + std::abs(want[i])));
    for (std::size_t r = 0; r < pick.size(); ++r) {
        for (std::int64_t i = 0; i < dim; ++i) {
            ASSERT_EQ(got_sel[r * dim + i], got[pick[r] * dim + i]) << "selected row " << r;
        }
    }
}

TEST_P(DeviceKernels, RopeOfBothStylesWithFactorsMatchesTheCpu) {
    const int n = 4, heads = 4, kv_heads = 2, head_dim = 64, rope_dim = 48;
    const std::vector<std::int32_t> positions{0, 7, 4095, 131071};
    std::vector<float> factors(rope_dim / 2);
    for (int i = 0; i < rope_dim / 2; ++i) factors[i] = 1.0f + 0.25f * i;
    const RopeTable table(rope_dim, 500000.0f, factors);
    std::vector<double> inv_freq(rope_dim / 2);
    for (int i = 0; i < rope_dim / 2; ++i) inv_freq[i] = std::pow(500000.0, -2.0 * i / rope_dim) / factors[i];
    std::vector<float> cs_want(static_cast<std::size_t>(n * rope_dim));
    table.rope_cos_sin(positions, cs_want.data());
    for (bool neox : {false, true}) {
        Buffers b(ops());
        float* cs = b.make<float>(cs_want.size());
        ops().rope_cos_sin({b.put(positions), b.put(inv_freq), rope_dim / 2, cs}, Launch{n});
        const std::vector<float> cs_got = b.get(cs, cs_want.size());
        for (std::size_t i = 0; i < cs_want.size(); ++i) ASSERT_NEAR(cs_got[i], cs_want[i], 1e-6) << i;
        std::vector<float> q = random_values(static_cast<std::size_t>(n * heads * head_dim), rng_);
        std::vector<float> k = random_values(static_cast<std::size_t>(n * kv_heads * head_dim), rng_);
        float* qd = b.put(q);
        float* kd = b.put(k);
        ops().rope({neox, qd, kd, heads, kv_heads, head_dim, rope_dim, cs}, Launch{n});
        const RopeStyle style = neox ? RopeStyle::Neox : RopeStyle::Normal;
        apply_rope(style, q.data(), n, heads, head_dim, rope_dim, cs_want.data());
        apply_rope(style, k.data(), n, kv_heads, head_dim, rope_dim, cs_want.data());
        const std::vector<float> q_got = b.get(qd, q.size()), k_got = b.get(kd, k.size());
        for (std::size_t i = 0; i < q.size(); ++i) ASSERT_NEAR(q_got[i], q[i], 1e-5) << "q " << i;
        for (std::size_t i = 0; i < k.size(); ++i) ASSERT_NEAR(k_got[i], k[i], 1e-5) << "k " << i;
    }
}

TEST_P(DeviceKernels, ElementwiseOpsMatchTheCpu) {
    const std::int64_t n = 1000, width = 40;  // n * width elements for the bias
    const std::vector<float> g = random_values(static_cast<std::size_t>(n), rng_, 8.0f);
    const std::vector<float> u = random_values(static_cast<std::size_t>(n), rng_, 2.0f);
    const std::vector<float> bias = random_values(static_cast<std::size_t>(width), rng_);
    Buffers b(ops());
    const Launch launch{static_cast<int>((n + cuda::kElemThreads - 1) / cuda::kElemThreads)};
    float* out = b.make<float>(static_cast<std::size_t>(n));
    ops().elementwise({cuda::ElemOp::Swiglu, b.put(g), b.put(u), out, nullptr, n, 0}, launch);
    std::vector<float> want(static_cast<std::size_t>(n));
    swiglu(g.data(), u.data(), want.data(), n);
    std::vector<float> got = b.get(out, want.size());
    for (std::int64_t i = 0; i < n; ++i) ASSERT_NEAR(got[i], want[i], 1e-5 * (1.0 + std::abs(want[i]))) << i;
    // y += x; y += bias by rows of width
    float* y = b.put(u);
    ops().elementwise({cuda::ElemOp::Add, b.put(g), nullptr, y, nullptr, n, 0}, launch);
    ops().elementwise({cuda::ElemOp::AddBias, b.put(bias), nullptr, y, nullptr, n, width}, launch);
    got = b.get(y, want.size());
    for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(got[i], (u[i] + g[i]) + bias[i % width]) << i;
    // f32 -> f16 / bf16 bits, round to nearest even
    std::uint16_t* h = b.make<std::uint16_t>(static_cast<std::size_t>(n));
    for (auto [op, convert] : {std::pair{cuda::ElemOp::ToHalf, &f32_to_fp16}, {cuda::ElemOp::ToBf16, &f32_to_bf16}}) {
        ops().elementwise({op, b.put(g), nullptr, nullptr, h, n, 0}, launch);
        const std::vector<std::uint16_t> bits = b.get(h, static_cast<std::size_t>(n));
        for (std::int64_t i = 0; i < n; ++i) ASSERT_EQ(bits[i], convert(g[i])) << i;
    }
}

TEST_P(DeviceKernels, WriteKvStoresTheSameBytesAsTheCpu) {
    const int num_blocks = 6, block_size = 8, kv_heads = 2, head_dim = 64;
    const std::vector<std::int64_t> slots{5, -1, 47, 0, 23};
    for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
        PagedKvLayer layer{dtype, num_blocks, block_size, kv_heads, head_dim, nullptr, nullptr};
        std::vector<std::byte> k_want(layer.buffer_bytes(), std::byte{0x11}), v_want = k_want;
        layer.k = k_want.data();
        layer.v = v_want.data();
        const std::vector<float> k = random_values(slots.size() * kv_heads * head_dim, rng_, 4.0f);
        std::vector<float> v = random_values(slots.size() * kv_heads * head_dim, rng_, 4.0f);
        std::fill(v.begin() + 64, v.begin() + 96, 0.0f);  // an all-zero q8_0 block
        write_kv(layer, k.data(), v.data(), slots);
        Buffers b(ops());
        const std::vector<std::uint8_t> junk(layer.buffer_bytes(), 0x11);
        std::uint8_t* kc = b.put(junk);
        std::uint8_t* vc = b.put(junk);
        ops().write_kv({dtype, kc, vc, layer.row_bytes(), kv_heads * head_dim, b.put(k), b.put(v), b.put(slots)},
                       Launch{static_cast<int>(slots.size())});
        const std::vector<std::uint8_t> k_got = b.get(kc, junk.size()), v_got = b.get(vc, junk.size());
        EXPECT_EQ(std::memcmp(k_got.data(), k_want.data(), junk.size()), 0) << type_name(dtype);
        EXPECT_EQ(std::memcmp(v_got.data(), v_want.data(), junk.size()), 0) << type_name(dtype);
    }
}

TEST_P(DeviceKernels, CopyBlocksCopiesWholeBlocksOfEveryBuffer) {
    const std::size_t block_bytes = 96, num_blocks = 5;
    std::vector<std::uint8_t> a(block_bytes * num_blocks), c(block_bytes * num_blocks);
    std::iota(a.begin(), a.end(), 0);
    std::iota(c.begin(), c.end(), 100);
    Buffers b(ops());
    std::uint8_t* ad = b.put(a);
    std::uint8_t* cd = b.put(c);
    // Host-side "swap space": 3 blocks of (a part, c part), 2 * block_bytes apart.
    std::vector<std::uint8_t> host(3 * 2 * block_bytes, 0);
    std::uint8_t* hd = b.put(host);
    const std::vector<std::uint8_t*> kv_bases{ad, cd}, swap_bases{hd, hd + block_bytes};
    std::uint8_t** kv = b.put(kv_bases);
    std::uint8_t** sw = b.put(swap_bases);
    const std::vector<std::int32_t> pairs{4, 2, 0, 1};  // kv 4 -> swap 2, kv 0 -> swap 1
    ops().copy_blocks({b.put(pairs), kv, sw, block_bytes, 2 * block_bytes, block_bytes}, Launch{2, 2});
    const std::vector<std::uint8_t> got = b.get(hd, host.size());
    for (std::size_t i = 0; i < block_bytes; ++i) {
        ASSERT_EQ(got[2 * 2 * block_bytes + i], a[4 * block_bytes + i]);
        ASSERT_EQ(got[2 * 2 * block_bytes + block_bytes + i], c[4 * block_bytes + i]);
        ASSERT_EQ(got[1 * 2 * block_bytes + i], a[i]);
        ASSERT_EQ(got[1 * 2 * block_bytes + block_bytes + i], c[i]);
        ASSERT_EQ(got[i], 0);  // swap block 0 untouched
    }
}

// ---- paged attention -----------------------------------------------------------------------

struct AttnCase {
    TensorType dtype;
    int block_size, num_kv_heads, group, head_dim;
    std::vector<std::pair<int, int>> seqs;  // (seq_len, query_len)
    int splits;
    std::size_t shared_limit;  // forces small tiles when low
};

void check_attention(cuda::DeviceOps& ops, const AttnCase& c, std::mt19937& rng) {
    const int num_heads = c.num_kv_heads * c.group, row = c.num_kv_heads * c.head_dim;
    // Cache and tables: shuffled blocks, every token of every sequence written by the CPU.
    std::vector<std::int32_t> query_start{0}, seq_lens;
    int max_blocks = 1, total_blocks = 0, max_query = 1;
    for (auto [len, ql] : c.seqs) {
        query_start.push_back(query_start.back() + ql);
        seq_lens.push_back(len);
        max_blocks = std::max(max_blocks, (len + c.block_size - 1) / c.block_size);
        total_blocks += (len + c.block_size - 1) / c.block_size;
        max_query = std::max(max_query, ql);
    }
    const int num_blocks = total_blocks + 3;
    std::vector<std::int32_t> ids(num_blocks);
    std::iota(ids.begin(), ids.end(), 0);
    std::shuffle(ids.begin(), ids.end(), rng);
    std::vector<std::int32_t> tables(c.seqs.size() * max_blocks, -1);
    PagedKvLayer layer{c.dtype, num_blocks, c.block_size, c.num_kv_heads, c.head_dim, nullptr, nullptr};
    std::vector<std::byte> kc(layer.buffer_bytes()), vc(layer.buffer_bytes());
    layer.k = kc.data();
    layer.v = vc.data();
    std::size_t next = 0;
    std::vector<std::int64_t> slots;
    for (std::size_t s = 0; s < c.seqs.size(); ++s) {
        for (int p = 0; p < c.seqs[s].first; ++p) {
            if (p % c.block_size == 0) tables[s * max_blocks + p / c.block_size] = ids[next++];
            slots.push_back(std::int64_t{tables[s * max_blocks + p / c.block_size]} * c.block_size + p % c.block_size);
        }
    }
    const std::vector<float> k = random_values(slots.size() * row, rng), v = random_values(slots.size() * row, rng);
    write_kv(layer, k.data(), v.data(), slots);
    const int num_tokens = query_start.back();
    const std::vector<float> q =
        random_values(static_cast<std::size_t>(num_tokens * num_heads * c.head_dim), rng, 2.0f);
    const float scale = 1.0f / std::sqrt(float(c.head_dim));

    // The CPU kernel's answer.
    std::vector<float> want(q.size(), 0.0f);
    ThreadPool pool(1);
    const AttentionBatch batch{query_start, seq_lens, tables, max_blocks};
    std::vector<std::byte> scratch(paged_attention_scratch_bytes(layer, num_heads, 1, int(c.seqs.size())));
    paged_attention(pool, layer, q.data(), want.data(), batch, num_heads, scale, scratch);

    // The device's.
    const bool decode = max_query == 1;
    const cuda::AttentionTiling tiling =
        cuda::choose_attention_tiling(c.group, c.head_dim, decode, std::min(c.shared_limit, ops.max_shared_bytes()));
    ASSERT_GT(tiling.query_tile, 0);
    const int qtiles = (max_query + tiling.query_tile - 1) / tiling.query_tile;
    Buffers b(ops);
    float* out = b.put(std::vector<float>(q.size(), -99.0f));
    float* pacc = b.make<float>(static_cast<std::size_t>(c.splits) * q.size());
    float* pml = b.make<float>(static_cast<std::size_t>(c.splits) * num_tokens * num_heads * 2);
    const std::vector<std::uint8_t> kbytes(reinterpret_cast<const std::uint8_t*>(kc.data()),
                                           reinterpret_cast<const std::uint8_t*>(kc.data()) + kc.size());
    const std::vector<std::uint8_t> vbytes(reinterpret_cast<const std::uint8_t*>(vc.data()),
                                           reinterpret_cast<const std::uint8_t*>(vc.data()) + vc.size());
    const cuda::AttentionParams p{b.put(q),
                                  out,
                                  b.put(kbytes),
                                  b.put(vbytes),
                                  c.dtype,
                                  layer.row_bytes(),
                                  b.put(query_start),
                                  b.put(seq_lens),
                                  b.put(tables),
                                  max_blocks,
                                  c.block_size,
                                  num_heads,
                                  c.num_kv_heads,
                                  c.head_dim,
                                  num_tokens,
                                  scale,
                                  tiling.query_tile,
                                  tiling.key_tile,
                                  qtiles,
                                  c.splits,
                                  pacc,
                                  pml};
    ops.attention(p, Launch{static_cast<int>(c.seqs.size()) * qtiles, c.num_kv_heads, c.splits, tiling.shared_bytes});
    if (c.splits > 1) {
        ops.attention_reduce({pacc, pml, out, c.splits, num_tokens, num_heads, c.head_dim},
                             Launch{num_tokens * num_heads});
    }
    const std::vector<float> got = b.get(out, q.size());
    for (std::size_t i = 0; i < q.size(); ++i) {
        ASSERT_NEAR(got[i], want[i], 2e-5 * (1.0f + std::abs(want[i])))
            << type_name(c.dtype) << " head_dim " << c.head_dim << " group " << c.group << " splits " << c.splits
            << " tiles " << tiling.query_tile << "x" << tiling.key_tile << " element " << i;
    }
}

TEST_P(DeviceKernels, AttentionOfMixedPrefillChunkAndDecodeBatchesMatchesTheCpu) {
    const std::vector<std::pair<int, int>> mixed{{1, 1}, {37, 37}, {70, 9}, {16, 1}, {130, 64}, {33, 2}};
    for (TensorType dtype : {TensorType::F32, TensorType::F16, TensorType::Q8_0}) {
        for (int block_size : {8, 16, 32}) {
            check_attention(ops(), {dtype, block_size, 2, 4, 64, mixed, 1, 1 << 20}, rng_);
        }
    }
    // head sizes and GQA ratios of real models; tiny shared memory forces the smallest tiles
    check_attention(ops(), {TensorType::F32, 16, 4, 2, 8, mixed, 1, 1 << 20}, rng_);
    check_attention(ops(), {TensorType::F16, 16, 1, 7, 64, mixed, 1, 1 << 20}, rng_);
    check_attention(ops(), {TensorType::F16, 16, 2, 1, 128, mixed, 1, 1 << 20}, rng_);
    check_attention(ops(), {TensorType::F32, 8, 2, 4, 32, mixed, 1, 6 * 1024}, rng_);
}

TEST_P(DeviceKernels, SplitKeyDecodeAttentionMatchesTheCpu) {
    const std::vector<std::pair<int, int>> decodes{{1, 1}, {700, 1}, {129, 1}, {1500, 1}};
    for (int splits : {2, 3, 8}) {
        for (TensorType dtype : {TensorType::F32, TensorType::Q8_0}) {
            check_attention(ops(), {dtype, 16, 2, 4, 64, decodes, splits, 1 << 20}, rng_);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Devices, DeviceKernels, ::testing::ValuesIn(test::device_names()), test::param_name);

}  // namespace device_kernels_test
}  // namespace kvscope
