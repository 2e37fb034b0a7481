#include "engine/synthetic_lora.h"

#include <cmath>

#include "engine/error.h"
#include "engine/gguf_writer.h"
#include "engine/lora_adapter.h"
#include "engine/model_config.h"
#include "engine/rng.h"

namespace kvscope {
namespace {

// `rows` rows of `cols` uniform values in [-scale, scale], row r from stream r of `seed`.
std::vector<float> random_matrix(std::uint64_t seed, std::int64_t rows, std::int64_t cols, double scale) {
    std::vector<float> m(static_cast<std::size_t>(rows * cols));
    for (std::int64_t r = 0; r < rows; ++r) {
        SequenceRandom random(seed, static_cast<std::uint64_t>(r));
        for (std::int64_t c = 0; c < cols; ++c) {
            m[static_cast<std::size_t>(r * cols + c)] = static_cast<float>((2.0 * random.uniform01() - 1.0) * scale);
        }
    }
    return m;
}

std::span<const std::uint8_t> bytes_of(const std::vector<float>& v) {
    return {reinterpret_cast<const std::uint8_t*>(v.data()), v.size() * sizeof(float)};
}

}  // namespace

void SyntheticLoraSpec::validate() const {
    if (rank < 1 || rank > 4096) throw ConfigError("LoRA rank " + std::to_string(rank) + " is outside 1..4096");
    if (!std::isfinite(alpha) || alpha < 0) throw ConfigError("LoRA alpha must be a finite number >= 0");
    if (targets.empty()) throw ConfigError("a LoRA adapter needs at least one target (q, k, v, o, gate, up, down)");
}

LoraTarget parse_lora_target(const std::string& name) {
    static const char* const kNames[kNumLoraTargets] = {"q", "k", "v", "o", "gate", "up", "down"};
    for (int t = 0; t < kNumLoraTargets; ++t) {
        if (name == kNames[t]) return static_cast<LoraTarget>(t);
    }
    throw ConfigError("unknown LoRA target '" + name + "'; use q, k, v, o, gate, up or down");
}

void write_synthetic_lora(const SyntheticLoraSpec& spec, const GgufFile& base, const std::string& path) {
    spec.validate();
    const std::string arch = base.require_string("general.architecture");
    const std::int64_t num_layers = base.require_int(arch + ".block_count");
    GgufWriter w;
    w.set_string("general.architecture", arch);
    w.set_string("general.type", "adapter");
    w.set_string("general.name", "synthetic-lora");
    w.set_string("adapter.type", "lora");
    w.set_f32("adapter.lora.alpha", spec.alpha);
    std::uint64_t index = 0;
    for (std::int64_t l = 0; l < num_layers; ++l) {
        for (LoraTarget t : spec.targets) {
            const std::string name = layer_tensor_name(static_cast<int>(l), lora_target_tensor(t));
            const GgufTensorInfo* base_tensor = base.find_tensor(name);
            if (base_tensor == nullptr || base_tensor->shape.size() != 2) {
                throw ModelError(base.name() + ": the base model has no 2-D tensor '" + name +
                                 "' to adapt; is it a model file?");
            }
            const std::int64_t in = base_tensor->shape[0], out = base_tensor->shape[1];
            const std::uint64_t seed = spec.seed ^ (++index * 0x9E3779B97F4A7C15ull);
            // The writer copies the bytes.
            w.add_tensor(name + ".lora_a", {in, spec.rank}, TensorType::F32,
                         bytes_of(random_matrix(seed, spec.rank, in, std::sqrt(3.0 / double(in)))));
            w.add_tensor(name + ".lora_b", {spec.rank, out}, TensorType::F32,
                         bytes_of(random_matrix(~seed, out, spec.rank, 0.5 * std::sqrt(3.0 / double(spec.rank)))));
        }
    }
    w.write(path);
}

}  // namespace kvscope
