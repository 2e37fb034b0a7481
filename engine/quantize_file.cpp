#include "engine/quantize_file.h"

#include <cstring>
#include <vector>

#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/llama_file_type.h"
#include "engine/requantization.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace kvscope {

QuantizeFileResult quantize_file(const GgufFile& in, TensorType target, const std::string& out_path, int threads) {
    if (!is_requantization_target(target)) {
        throw ConfigError("cannot quantise to " + std::string(type_name(target)) + "; choose " +
                          requantization_target_list());
    }
    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) w.set(key, value);
    w.set_u32("general.file_type", llama_file_type(target, false));

    ThreadPool pool(threads);
    QuantizeFileResult result;
    for (const GgufTensorInfo& t : in.tensors()) {
        const std::span<const std::uint8_t> src = in.tensor_data(t);
        ++result.num_tensors;
        result.bytes_in += t.num_bytes;
        if (t.shape.size() != 2 || !requantizes(t.type, t.shape[0], target)) {
            // copied as it streams out (never held whole: a file may keep gigabytes as stored)
            w.add_tensor(t.name, t.shape, t.type, [src](std::uint64_t byte_offset, std::span<std::uint8_t> out) {
                std::memcpy(out.data(), src.data() + byte_offset, out.size());
            });
            result.bytes_out += t.num_bytes;
            continue;
        }
        const std::int64_t cols = t.shape[0];
        const std::size_t src_row = row_bytes(t.type, cols), dst_row = row_bytes(target, cols);
        const TensorType stored = t.type;
        // chunks of whole rows, in order: convert each chunk's rows on the pool's threads
        w.add_tensor(
            t.name, t.shape, target,
            [&pool, src, src_row, dst_row, cols, stored, target](std::uint64_t byte_offset,
                                                                 std::span<std::uint8_t> out) {
                const auto first_row = static_cast<std::int64_t>(byte_offset / dst_row);
                pool.parallel_for(
                    static_cast<std::int64_t>(out.size() / dst_row), [&](std::int64_t begin, std::int64_t end) {
                        std::vector<float> row(static_cast<std::size_t>(cols));
                        for (std::int64_t r = begin; r < end; ++r) {
                            dequantize_row(stored, src.data() + static_cast<std::size_t>(first_row + r) * src_row,
                                           row.data(), cols);
                            quantize_row(target, row.data(), out.data() + static_cast<std::size_t>(r) * dst_row, cols);
                        }
                    });
            });
        ++result.num_converted;
        result.bytes_out += static_cast<std::uint64_t>(t.shape[1]) * dst_row;
    }
    w.write(out_path);
    return result;
}

}  // namespace kvscope
