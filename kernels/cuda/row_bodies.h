#pragma once
// Kernel bodies of the per-token ops (see hd.h for how bodies run on device and host): the
// embedding gather, RMSNorm, rotary embedding, SwiGLU, residual and bias adds, and the
// f32 -> f16 / bf16 conversion of activations for cuBLAS.

#include <cstdint>

#include "kernels/cuda/dequant.h"
#include "kernels/cuda/hd.h"

namespace kvscope::cuda {

inline constexpr int kRowThreads = 256;   // threads of the per-row kernels (gather, norm, rope)
inline constexpr int kElemThreads = 256;  // threads of the elementwise kernels: one element each

// ---- embedding gather: out(n, cols) f32 = rows ids[0..n) of w (vocab, cols), dequantised ----
struct GatherParams {
    TensorType type;
    const std::uint8_t* w;  // (vocab, cols) of type
    std::size_t row_bytes;
    std::int64_t cols;
    const std::int32_t* ids;  // (n)
    float* out;               // (n, cols)
};

// One block per token (block_x = token index).
template <class Exec>
KV_BODY void gather_block(const Exec& ex, const GatherParams& p, int block_x) {
    ex.phase([&](int tid) {
        const std::uint8_t* row = p.w + static_cast<std::size_t>(p.ids[block_x]) * p.row_bytes;
        float* out = p.out + static_cast<std::int64_t>(block_x) * p.cols;
        for (std::int64_t j = tid; j < p.cols; j += kRowThreads) out[j] = dequant_one(p.type, row, j);
    });
}

// ---- RMSNorm: y[r] = x[src(r)] / sqrt(mean(x[src(r)]^2) + eps) * w ----
struct RmsNormParams {
    const float* x;            // (rows of x, dim)
    const float* w;            // (dim)
    float* y;                  // (num_rows, dim)
    const std::int32_t* rows;  // (num_rows) row of x for each row of y, or null: the same row
    std::int64_t dim;
    float eps;
};

// Shared memory: kRowThreads + 33 floats. One block per output row.
inline constexpr int kRmsNormSharedFloats = kRowThreads + 33;

template <class Exec>
KV_BODY void rms_norm_block(const Exec& ex, const RmsNormParams& p, int block_x, float* smem) {
    const std::int64_t src = p.rows ? p.rows[block_x] : block_x;
    const float* x = p.x + src * p.dim;
    float* y = p.y + static_cast<std::int64_t>(block_x) * p.dim;
    // 1. each thread's share of the sum of squares
    ex.phase([&](int tid) {
        float s = 0.0f;
        for (std::int64_t i = tid; i < p.dim; i += kRowThreads) s += x[i] * x[i];
        smem[tid] = s;
    });
    // 2. 32 partial sums, then their total and the inverse rms in smem[kRowThreads + 32]
    ex.phase([&](int tid) {
        if (tid < 32) {
            float s = 0.0f;
            for (int k = tid; k < kRowThreads; k += 32) s += smem[k];
            smem[kRowThreads + tid] = s;
        }
    });
    ex.phase([&](int tid) {
        if (tid == 0) {
            float s = 0.0f;
            for (int k = 0; k < 32; ++k) s += smem[kRowThreads + k];
            smem[kRowThreads + 32] = 1.0f / sqrt_f(s / static_cast<float>(p.dim) + p.eps);
        }
    });
    // 3. scale
    ex.phase([&](int tid) {
        const float inv_rms = smem[kRowThreads + 32];
        for (std::int64_t i = tid; i < p.dim; i += kRowThreads) y[i] = x[i] * inv_rms * p.w[i];
    });
}

// ---- RoPE: cos/sin of each token's angles, then the rotation of q and k ----
struct RopeCosSinParams {
    const std::int32_t* positions;  // (n)
    const double* inv_freq;         // (rope_dim / 2): base^(-2i / rope_dim) / factor_i / scale
    std::int32_t half;              // rope_dim / 2
    float* cos_sin;                 // (n, rope_dim / 2, 2)
};

// One block per token. Angles in double, as RopeTable forms them.
template <class Exec>
KV_BODY void rope_cos_sin_block(const Exec& ex, const RopeCosSinParams& p, int block_x) {
    ex.phase([&](int tid) {
        const double pos = static_cast<double>(p.positions[block_x]);
        float* cs = p.cos_sin + static_cast<std::int64_t>(block_x) * 2 * p.half;
        for (int i = tid; i < p.half; i += kRowThreads) {
            const double angle = pos * p.inv_freq[i];
            cs[2 * i] = static_cast<float>(cos(angle));
            cs[2 * i + 1] = static_cast<float>(sin(angle));
        }
    });
}

struct RopeParams {
    bool neox;  // pairs (i, i + rope_dim / 2) (qwen2); false: (2i, 2i + 1) (llama)
    float* q;   // (n, num_heads, head_dim)
    float* k;   // (n, num_kv_heads, head_dim)
    std::int32_t num_heads, num_kv_heads, head_dim, rope_dim;
    const float* cos_sin;  // (n, rope_dim / 2, 2)
};

// One block per token; pairs of q's heads, then of k's heads, spread over the threads.
template <class Exec>
KV_BODY void rope_block(const Exec& ex, const RopeParams& p, int block_x) {
    ex.phase([&](int tid) {
        const int half = p.rope_dim / 2;
        const int first_step = p.neox ? 1 : 2;  // pair i: (2i, 2i+1) or (i, i+half)
        const int second_offset = p.neox ? half : 1;
        const float* cs = p.cos_sin + static_cast<std::int64_t>(block_x) * p.rope_dim;
        const int total = (p.num_heads + p.num_kv_heads) * half;
        for (int idx = tid; idx < total; idx += kRowThreads) {
            const int h = idx / half, i = idx % half;
            float* xh =
                h < p.num_heads
                    ? p.q + (static_cast<std::int64_t>(block_x) * p.num_heads + h) * p.head_dim
                    : p.k + (static_cast<std::int64_t>(block_x) * p.num_kv_heads + (h - p.num_heads)) * p.head_dim;
            float* a = xh + i * first_step;
            float* b = a + second_offset;
            const float c = cs[2 * i], s = cs[2 * i + 1];
            const float a0 = *a, b0 = *b;
            *a = a0 * c - b0 * s;
            *b = a0 * s + b0 * c;
        }
    });
}

// ---- elementwise: one element per thread, block_x * kElemThreads + tid ----
enum class ElemOp { Swiglu, Add, AddBias, ToHalf, ToBf16 };

struct ElemParams {
    ElemOp op;
    const float* a;    // swiglu: gate; add: x; bias: bias (width); convert: src
    const float* b;    // swiglu: up
    float* y;          // swiglu: out; add / bias: y (in place)
    std::uint16_t* h;  // convert: dst bits
    std::int64_t n;
    std::int64_t width;  // bias: row width
};

template <class Exec>
KV_BODY void elementwise_block(const Exec& ex, const ElemParams& p, int block_x) {
    ex.phase([&](int tid) {
        const std::int64_t i = static_cast<std::int64_t>(block_x) * kElemThreads + tid;
        if (i >= p.n) return;
        switch (p.op) {
            case ElemOp::Swiglu: {
                const float g = p.a[i];
                p.y[i] = g / (1.0f + exp_f(-g)) * p.b[i];
                break;
            }
            case ElemOp::Add:
                p.y[i] += p.a[i];
                break;
            case ElemOp::AddBias:
                p.y[i] += p.a[i % p.width];
                break;
            case ElemOp::ToHalf:
                p.h[i] = float_to_half(p.a[i]);
                break;
            case ElemOp::ToBf16:
                p.h[i] = float_to_bf16(p.a[i]);
                break;
        }
    });
}

}  // namespace kvscope::cuda
