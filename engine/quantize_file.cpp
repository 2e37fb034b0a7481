#include "engine/quantize_file.h"

#include <cstring>

#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/llama_file_type.h"
#include "engine/model_config.h"
#include "engine/requantization.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"

namespace kvscope {

QuantizeFileResult quantize_file(const GgufFile& in, TensorType base, const std::string& out_path, int threads,
                                 bool k_quant_medium) {
    if (!is_requantization_target(base)) {
        throw ConfigError("cannot quantise to " + std::string(type_name(base)) + "; choose " +
                          requantization_target_list());
    }
    if (k_quant_medium && base != TensorType::Q4_K && base != TensorType::Q5_K) {
        throw ConfigError("the _M mixture is over Q4_K or Q5_K, not " + std::string(type_name(base)));
    }
    int num_layers = 0;
    bool tied = false;
    if (k_quant_medium) {  // ModelError for a file that is not a model
        const ModelConfig config = read_model_config(in);
        num_layers = config.shape.num_layers;
        tied = config.tied_embeddings;
    }
    GgufWriter w;
    for (const auto& [key, value] : in.metadata()) w.set(key, value);
    w.set_u32("general.file_type", llama_file_type(base, k_quant_medium));

    ThreadPool pool(threads);
    QuantizeFileResult result;
    for (const GgufTensorInfo& t : in.tensors()) {
        const std::span<const std::uint8_t> src = in.tensor_data(t);
        ++result.num_tensors;
        result.bytes_in += t.num_bytes;
        const TensorType target =
            k_quant_medium ? k_quant_medium_type(base, t.name, weight_layer(t.name), num_layers, tied) : base;
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
        // chunks of whole rows, in order, each converted on the pool's threads
        w.add_tensor(t.name, t.shape, target,
                     [&pool, src, src_row, dst_row, cols, stored, target](std::uint64_t byte_offset,
                                                                          std::span<std::uint8_t> out) {
                         const std::uint64_t first_row = byte_offset / dst_row;
                         requantize_rows(stored, src.data() + first_row * src_row, target, out.data(), cols,
                                         static_cast<std::int64_t>(out.size() / dst_row), pool);
                     });
        ++result.num_converted;
        result.bytes_out += static_cast<std::uint64_t>(t.shape[1]) * dst_row;
    }
    if (result.num_converted == 0) {  // the file would be a copy labelled with a type it does not hold
        throw ConfigError("no tensor of this model can be stored as " + std::string(type_name(base)) +
                          ": none is a 2-D weight of a re-quantisable type whose rows hold whole " +
                          std::to_string(type_info(base).block_elems) +
                          "-element blocks; choose a type with smaller blocks (q8_0, q4_0, f16); nothing was written");
    }
    w.write(out_path);
    return result;
}

}  // namespace kvscope
