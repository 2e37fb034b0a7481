#include "kernels/matmul.h"

#include <algorithm>

#include "kernels/check.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace kvscope {
namespace {

// Output rows per task: a tile of weight rows stays in cache while every activation row passes.
constexpr std::int64_t kRowsPerTask = 16;
// Below this many multiply-adds a call runs on the calling thread alone (waking workers costs more).
constexpr std::int64_t kMinParallelWork = 1 << 15;

}  // namespace

std::size_t matmul_scratch_bytes(const WeightTensor& w, std::int64_t num_rows) {
    const TensorType act = type_kernels(w.type).vec_dot_type;
    if (act == TensorType::F32) return 0;
    return static_cast<std::size_t>(num_rows) * row_bytes(act, w.cols);
}

void matmul(ThreadPool& pool, const WeightTensor& w, const float* x, std::int64_t num_rows, float* y,
            std::uint8_t* scratch) {
    const TypeKernels& kernels = type_kernels(w.type);
    const std::int64_t cols = w.cols;
    const bool parallel = w.rows * cols * num_rows >= kMinParallelWork;

    // 1. activations -> vec_dot_type (F32 weights dot with x directly)
    const std::uint8_t* xq = reinterpret_cast<const std::uint8_t*>(x);
    std::size_t x_row_bytes = static_cast<std::size_t>(cols) * sizeof(float);
    if (kernels.vec_dot_type != TensorType::F32) {
        const TypeKernels& act = type_kernels(kernels.vec_dot_type);
        x_row_bytes = row_bytes(kernels.vec_dot_type, cols);
        auto quantize = [&](std::int64_t begin, std::int64_t end) {
            for (std::int64_t r = begin; r < end; ++r) {
                act.quantize(x + r * cols, scratch + static_cast<std::size_t>(r) * x_row_bytes, cols);
            }
        };
        if (parallel && num_rows > 1)
            pool.parallel_for(num_rows, quantize);
        else
            quantize(0, num_rows);
        xq = scratch;
    }

    // 2. y[t, r] = dot(w row r, x row t), tiles of weight rows per task
    const std::size_t w_row_bytes = row_bytes(w.type, cols);
    const auto* wdata = static_cast<const std::uint8_t*>(w.data);
    const std::int64_t num_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
    auto run = [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t task = begin; task < end; ++task) {
            const std::int64_t r0 = task * kRowsPerTask, r1 = std::min(r0 + kRowsPerTask, w.rows);
            for (std::int64_t t = 0; t < num_rows; ++t) {
                const std::uint8_t* xrow = xq + static_cast<std::size_t>(t) * x_row_bytes;
                float* yrow = y + t * w.rows;
                for (std::int64_t r = r0; r < r1; ++r) {
                    yrow[r] = kernels.vec_dot(cols, wdata + static_cast<std::size_t>(r) * w_row_bytes, xrow);
                }
            }
        }
    };
    if (parallel)
        pool.parallel_for(num_tasks, run);
    else
        run(0, num_tasks);
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
