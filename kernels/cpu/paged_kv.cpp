#include "kernels/paged_kv.h"

#include <cmath>
#include <cstring>

#include "kernels/check.h"
#include "kernels/cpu/attention_rows.h"
#include "kernels/cpu/f16.h"

namespace kvscope {
namespace {

bool is_cache_dtype(TensorType dtype) {
    return dtype == TensorType::F32 || dtype == TensorType::F16 || dtype == TensorType::Q8_0;
}

// dst: row_elems / 32 blocks of (f16 d, int8 qs[32]) <- src (row_elems) f32, as ggml's
// reference quantiser: d = max|x| / 127, q = round(x / d) (ties away from zero).
void quantize_row_q8_0(const float* src, std::byte* dst, std::int64_t row_elems) {
    for (std::int64_t b = 0; b < row_elems / kQ8_0BlockElems; ++b) {
        const float* x = src + b * kQ8_0BlockElems;  // (32)
        std::byte* block = dst + b * kQ8_0BlockBytes;  // f16 d, int8 qs[32]
        float amax = 0.0f;
        for (std::int64_t i = 0; i < kQ8_0BlockElems; ++i) amax = std::fmax(amax, std::fabs(x[i]));
        const float d = amax / 127.0f;
        const float inv_d = d != 0.0f ? 1.0f / d : 0.0f;
        const std::uint16_t d16 = f32_to_f16(d);
        std::memcpy(block, &d16, 2);
        for (std::int64_t i = 0; i < kQ8_0BlockElems; ++i) {
            const auto q = static_cast<std::int8_t>(std::lround(x[i] * inv_d));
            std::memcpy(block + 2 + i, &q, 1);
        }
    }
}

// dst (one token's row in the cache dtype) <- src (num_kv_heads * head_dim) f32
void store_row(TensorType dtype, const float* src, std::byte* dst, std::int64_t row_elems) {
    switch (dtype) {
        case TensorType::F32:
            std::memcpy(dst, src, static_cast<std::size_t>(row_elems) * 4);
            return;
        case TensorType::F16:
            for (std::int64_t i = 0; i < row_elems; ++i) {
                const std::uint16_t h = f32_to_f16(src[i]);
                std::memcpy(dst + 2 * i, &h, 2);
            }
            return;
        case TensorType::Q8_0:
            quantize_row_q8_0(src, dst, row_elems);
            return;
        default:
            KV_CHECK_MSG(false, "KV cache dtype must be F32, F16 or Q8_0");
    }
}

}  // namespace

std::string kv_cache_layout_error(TensorType dtype, std::int32_t num_kv_heads, std::int32_t head_dim) {
    if (!is_cache_dtype(dtype)) {
        return "KV cache type " + std::string(type_name(dtype)) + " is not supported; use f32, f16 or q8_0";
    }
    if (num_kv_heads <= 0 || head_dim <= 0) {
        return "KV cache needs num_kv_heads > 0 and head_dim > 0 (got " + std::to_string(num_kv_heads) + " and " +
               std::to_string(head_dim) + ")";
    }
    const std::int64_t row = std::int64_t{num_kv_heads} * head_dim;
    if (dtype == TensorType::Q8_0 && row % kQ8_0BlockElems != 0) {
        return "KV cache type q8_0 stores each token's K/V row (num_kv_heads * head_dim = " +
               std::to_string(num_kv_heads) + " * " + std::to_string(head_dim) + " = " + std::to_string(row) +
               " values) in blocks of 32, but " + std::to_string(row) +
               " is not a multiple of 32; use an f16 or f32 KV cache for this model";
    }
    return {};
}

void write_kv(const PagedKvLayer& layer, const float* k, const float* v, std::span<const std::int64_t> slot_mapping) {
    KV_CHECK_MSG(kv_cache_layout_error(layer.dtype, layer.num_kv_heads, layer.head_dim).empty(),
                 "write_kv on a KV layout that kv_cache_layout_error rejects");
    const std::int64_t row_elems = std::int64_t{layer.num_kv_heads} * layer.head_dim;
    const std::size_t row_bytes = layer.row_bytes();
    const std::int64_t num_slots = std::int64_t{layer.num_blocks} * layer.block_size;
    for (std::size_t t = 0; t < slot_mapping.size(); ++t) {
        // 1. where token t goes (-1: nowhere, e.g. a padding token)
        const std::int64_t slot = slot_mapping[t];
        if (slot == -1) continue;
        KV_CHECK_MSG(slot >= 0 && slot < num_slots, "slot_mapping entry outside the KV cache");
        // 2. its K and V rows (num_kv_heads, head_dim), converted to the cache dtype
        store_row(layer.dtype, k + t * row_elems, layer.k + slot * row_bytes, row_elems);
        store_row(layer.dtype, v + t * row_elems, layer.v + slot * row_bytes, row_elems);
    }
}

void copy_blocks(const PagedKvLayer& layer, std::span<const std::pair<std::int32_t, std::int32_t>> src_dst) {
    const std::size_t block_bytes = layer.block_bytes();
    for (const auto& [src, dst] : src_dst) {
        KV_CHECK_MSG(src >= 0 && src < layer.num_blocks && dst >= 0 && dst < layer.num_blocks,
                     "copy_blocks: block id outside the KV cache");
        KV_CHECK_MSG(src != dst, "copy_blocks: a block copied onto itself");
        std::memcpy(layer.k + dst * block_bytes, layer.k + src * block_bytes, block_bytes);
        std::memcpy(layer.v + dst * block_bytes, layer.v + src * block_bytes, block_bytes);
    }
}

}  // namespace kvscope
