#include "kernels/matmul.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "kernels/check.h"
#include "kernels/cpu/gemm_float.h"
#include "kernels/cpu/gemm_x8.h"
#include "kernels/cpu/quant_kernels.h"
#include "kernels/fp16.h"
#include "kernels/quant.h"
#include "kernels/quant_blocks.h"
#include "kernels/thread_pool.h"

namespace kvscope {
namespace {

// Output rows per unit of work: 64 bytes of each output row, and a tile of weight rows that stays
// in cache while every activation row passes.
constexpr std::int64_t kRowsPerUnit = 16;
// Below this many multiply-adds a call runs on the calling thread alone (waking workers costs more).
constexpr std::int64_t kMinParallelWork = 1 << 15;
constexpr std::size_t kMaxWeights = 4;
// Chunks per thread of the dynamic schedule: threads take chunks of units from a shared counter,
// so a thread that the OS descheduled (other processes, a busy laptop) holds up no one.
constexpr std::int64_t kChunksPerThread = 8;

std::size_t round_up_64(std::size_t bytes) {
    return (bytes + 63) / 64 * 64;
}

const cpu::GemmX8Kernels& gemm_x8_kernels(SimdLevel level) {
    switch (level) {
        case SimdLevel::Avx512:
            return cpu::kGemmX8Avx512;
        case SimdLevel::Avx2:
            return cpu::kGemmX8Avx2;
        case SimdLevel::Scalar:
            break;
    }
    return cpu::kGemmX8Scalar;
}

// One weight row against 4 activation rows for the row-by-row types that have it at this level,
// or null. Only where it gives the level's own vec_dot bit for bit, so that a row's result does
// not depend on how many rows share its step (the AVX-512 level has K-quant vec_dots of its own,
// and a 4-row dot for Q6_K only: its Q4_K packs).
cpu::RowDot4Fn row_dot4(TensorType type, SimdLevel level) {
    if (level == SimdLevel::Avx512) return type == TensorType::Q6_K ? cpu::dot4_q6_k_avx512 : nullptr;
    if (level != SimdLevel::Avx2) return nullptr;
    return type == TensorType::Q4_K ? cpu::dot4_q4_k_avx2 : type == TensorType::Q6_K ? cpu::dot4_q6_k_avx2 : nullptr;
}

// The tiled float GEMM for F32/F16/BF16 weights (AVX2 and up), or null.
cpu::GemmFloatFn float_gemm(TensorType type, SimdLevel level) {
    if (level < SimdLevel::Avx2) return nullptr;
    const cpu::GemmFloatKernels& k = level == SimdLevel::Avx512 ? cpu::kGemmFloatAvx512 : cpu::kGemmFloatAvx2;
    switch (type) {
        case TensorType::F32:
            return k.f32;
        case TensorType::F16:
            return k.f16;
        case TensorType::BF16:
            return k.bf16;
        default:
            return nullptr;
    }
}

bool is_packed(const MatmulWeight& w) {
    return w.format != PackedFormat::None;
}

// Activations as the kernels read them (see gemm_x8.h for xd).
struct Activations {
    const std::uint8_t* rows;  // (num_rows, row_bytes) in the activation type (f32 when it is F32)
    std::size_t row_bytes;
    const float* xd;  // (num_rows, cols / 32, 2) {d, 8 d sum(q)} of Q8_0 rows, or null
};

std::size_t quantised_bytes(TensorType act, std::int64_t cols, std::int64_t num_rows) {
    if (act == TensorType::F32) return 0;
    return round_up_64(static_cast<std::size_t>(num_rows) * row_bytes(act, cols));
}

std::size_t xd_bytes(std::int64_t cols, std::int64_t num_rows) {
    return static_cast<std::size_t>(num_rows * (cols / kQk) * 2) * sizeof(float);
}

// Row r of x (Q8_0) -> its per-block {d, 8 d sum(q)}.
void block_sums(const std::uint8_t* row, std::int64_t num_blocks, float* xd) {
    const auto* blocks = reinterpret_cast<const BlockQ8_0*>(row);
    for (std::int64_t b = 0; b < num_blocks; ++b) {
        int sum = 0;
        for (int i = 0; i < kQk; ++i) sum += blocks[b].qs[i];
        const float d = fp16_to_f32(blocks[b].d);
        xd[2 * b] = d;
        xd[2 * b + 1] = 8.0f * d * static_cast<float>(sum);
    }
}

// 1. activations -> the weights' vec_dot_type, once for every weight of the call.
Activations quantise(ThreadPool& pool, TensorType act, bool packed, const float* x, std::int64_t cols,
                     std::int64_t num_rows, std::uint8_t* scratch, bool parallel, SimdLevel level) {
    if (act == TensorType::F32) return {reinterpret_cast<const std::uint8_t*>(x), cols * sizeof(float), nullptr};
    const TypeKernels& kernels = type_kernels(act, level);
    const std::size_t x_row_bytes = row_bytes(act, cols);
    float* xd = packed ? reinterpret_cast<float*>(scratch + quantised_bytes(act, cols, num_rows)) : nullptr;
    const std::int64_t num_blocks = cols / kQk;
    auto run = [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t r = begin; r < end; ++r) {
            std::uint8_t* row = scratch + static_cast<std::size_t>(r) * x_row_bytes;
            kernels.quantize(x + r * cols, row, cols);
            if (xd != nullptr) block_sums(row, num_blocks, xd + r * num_blocks * 2);
        }
    };
    if (parallel && num_rows > 1)
        pool.parallel_for(num_rows, run);
    else
        run(0, num_rows);
    return {scratch, x_row_bytes, xd};
}

// Output rows [r0, r1) of one weight against every activation row.
void compute_rows(const MatmulWeight& mw, const Activations& xs, std::int64_t num_rows, float* y, std::int64_t r0,
                  std::int64_t r1, SimdLevel level) {
    const WeightTensor& w = mw.w;
    if (is_packed(mw)) {
        const cpu::GemmX8Kernels& k = gemm_x8_kernels(level);
        const cpu::GemmX8Fn fn = mw.format == PackedFormat::Q4_0x8   ? k.q4_0
                                 : mw.format == PackedFormat::Q8_0x8 ? k.q8_0
                                 : mw.format == PackedFormat::Q4_Kx8 ? k.q4_k
                                                                     : k.q5_k;
        const std::int64_t num_blocks = w.cols / kQk;
        const cpu::GemmX8Args args{mw.packed,
                                   packed_group_bytes(w),
                                   num_blocks,
                                   xs.rows,
                                   static_cast<std::int64_t>(xs.row_bytes),
                                   xs.xd,
                                   num_rows,
                                   y,
                                   w.rows,
                                   r0 / kPackRows,
                                   r1 / kPackRows};
        fn(args);
        return;
    }
    if (const cpu::GemmFloatFn fn = float_gemm(w.type, level); fn != nullptr && num_rows > 1) {
        fn(cpu::GemmFloatArgs{w.data, w.cols, reinterpret_cast<const float*>(xs.rows), num_rows, y, w.rows, r0, r1});
        return;
    }
    const TypeKernels& kernels = type_kernels(w.type, level);
    const cpu::RowDot4Fn dot4 = row_dot4(w.type, level);
    const std::size_t w_row_bytes = row_bytes(w.type, w.cols);
    const auto* wdata = static_cast<const std::uint8_t*>(w.data);
    // a tile of weight rows stays in cache while every activation row passes
    for (std::int64_t tile = r0; tile < r1; tile += kRowsPerUnit) {
        const std::int64_t tile_end = std::min(tile + kRowsPerUnit, r1);
        std::int64_t t = 0;
        for (; dot4 != nullptr && t + 4 <= num_rows; t += 4) {  // 4 activation rows share each weight row
            const std::uint8_t* x4 = xs.rows + static_cast<std::size_t>(t) * xs.row_bytes;
            for (std::int64_t r = tile; r < tile_end; ++r) {
                float out[4];
                dot4(w.cols, wdata + static_cast<std::size_t>(r) * w_row_bytes, x4, xs.row_bytes, out);
                for (int k = 0; k < 4; ++k) y[(t + k) * w.rows + r] = out[k];
            }
        }
        for (; t < num_rows; ++t) {
            const std::uint8_t* xrow = xs.rows + static_cast<std::size_t>(t) * xs.row_bytes;
            float* yrow = y + t * w.rows;
            for (std::int64_t r = tile; r < tile_end; ++r) {
                yrow[r] = kernels.vec_dot(w.cols, wdata + static_cast<std::size_t>(r) * w_row_bytes, xrow);
            }
        }
    }
}

}  // namespace

TensorType matmul_activation_type(const MatmulWeight& w) {
    return is_packed(w) ? TensorType::Q8_0 : vec_dot_type(w.w.type);
}

std::size_t matmul_scratch_bytes(const MatmulWeight& w, std::int64_t num_rows) {
    const TensorType act = matmul_activation_type(w);
    return quantised_bytes(act, w.w.cols, num_rows) + (is_packed(w) ? xd_bytes(w.w.cols, num_rows) : 0);
}

std::size_t matmul_scratch_bytes(const WeightTensor& w, std::int64_t num_rows) {
    return matmul_scratch_bytes(MatmulWeight{w}, num_rows);
}

void matmul_multi(ThreadPool& pool, std::span<const MatmulWeight* const> ws, const float* x, std::int64_t num_rows,
                  std::span<float* const> ys, std::uint8_t* scratch, SimdLevel level) {
    KV_CHECK(!ws.empty() && ws.size() <= kMaxWeights && ws.size() == ys.size() && num_rows >= 0);
    if (num_rows == 0) return;
    const std::int64_t cols = ws[0]->w.cols;
    const TensorType act = matmul_activation_type(*ws[0]);
    bool packed = false;
    std::int64_t work = 0;
    std::int64_t unit_end[kMaxWeights];  // units of weight i: [unit_end[i-1], unit_end[i])
    for (std::size_t i = 0; i < ws.size(); ++i) {
        const MatmulWeight& w = *ws[i];
        KV_CHECK(w.w.cols == cols && matmul_activation_type(w) == act);
        packed = packed || is_packed(w);
        work += w.w.rows * cols * num_rows;
        unit_end[i] = (i == 0 ? 0 : unit_end[i - 1]) + (w.w.rows + kRowsPerUnit - 1) / kRowsPerUnit;
    }
    const bool parallel = work >= kMinParallelWork;
    const Activations xs = quantise(pool, act, packed, x, cols, num_rows, scratch, parallel, level);

    // 2. threads take contiguous chunks of the units of all weights
    auto run = [&](std::int64_t begin, std::int64_t end) {
        for (std::size_t i = 0; i < ws.size(); ++i) {
            const std::int64_t first = i == 0 ? 0 : unit_end[i - 1];
            const std::int64_t u0 = std::max(begin, first), u1 = std::min(end, unit_end[i]);
            if (u0 >= u1) continue;
            const std::int64_t rows = ws[i]->w.rows;
            compute_rows(*ws[i], xs, num_rows, ys[i], (u0 - first) * kRowsPerUnit,
                         std::min((u1 - first) * kRowsPerUnit, rows), level);
        }
    };
    const std::int64_t num_units = unit_end[ws.size() - 1];
    if (!parallel || pool.num_threads() == 1) {
        run(0, num_units);
        return;
    }
    const std::int64_t chunk = std::max<std::int64_t>(1, num_units / (pool.num_threads() * kChunksPerThread));
    alignas(64) std::atomic<std::int64_t> next{0};
    pool.run_on_threads([&](int, int) {
        for (std::int64_t begin; (begin = next.fetch_add(chunk, std::memory_order_relaxed)) < num_units;) {
            run(begin, std::min(begin + chunk, num_units));
        }
    });
}

void matmul_multi(ThreadPool& pool, std::span<const MatmulWeight* const> ws, const float* x, std::int64_t num_rows,
                  std::span<float* const> ys, std::uint8_t* scratch) {
    matmul_multi(pool, ws, x, num_rows, ys, scratch, active_simd_level());
}

void matmul(ThreadPool& pool, const MatmulWeight& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch) {
    const MatmulWeight* ws[] = {&w};
    float* ys[] = {y};
    matmul_multi(pool, ws, x, num_rows, ys, scratch);
}

void matmul(ThreadPool& pool, const WeightTensor& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch) {
    matmul(pool, MatmulWeight{w}, x, num_rows, y, scratch);
}

void gather_rows(const WeightTensor& w, std::span<const std::int32_t> ids, float* out) {
    const TypeKernels& kernels = type_kernels(w.type);
    const std::size_t w_row_bytes = row_bytes(w.type, w.cols);
    const auto* wdata = static_cast<const std::uint8_t*>(w.data);
    for (std::size_t i = 0; i < ids.size(); ++i) {
        KV_CHECK(ids[i] >= 0 && ids[i] < w.rows);
        kernels.dequantize(wdata + static_cast<std::size_t>(ids[i]) * w_row_bytes,
                           out + i * static_cast<std::size_t>(w.cols), w.cols);
    }
}

}  // namespace kvscope
