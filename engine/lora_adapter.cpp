#include "engine/lora_adapter.h"

#include <cstring>
#include <set>

#include "engine/error.h"
#include "engine/model.h"
#include "kernels/quant.h"

namespace kvscope {
namespace {

constexpr const char* kTargetTensors[kNumLoraTargets] = {"attn_q.weight",   "attn_k.weight",  "attn_v.weight",
                                                         "attn_output.weight", "ffn_gate.weight", "ffn_up.weight",
                                                         "ffn_down.weight"};
constexpr std::string_view kSuffixA = ".lora_a";
constexpr std::string_view kSuffixB = ".lora_b";

std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() > suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// "blk.<layer>.<projection>" -> (layer, target); false for any other name.
bool parse_target(const std::string& name, int num_layers, int& layer, LoraTarget& target) {
    if (name.rfind("blk.", 0) != 0) return false;
    const std::size_t dot = name.find('.', 4);
    if (dot == std::string::npos || dot == 4) return false;
    const std::string number = name.substr(4, dot - 4);
    if (number.size() > 6 || number.find_first_not_of("0123456789") != std::string::npos) return false;
    layer = std::stoi(number);
    if (layer >= num_layers) return false;
    const std::string suffix = name.substr(dot + 1);
    for (int t = 0; t < kNumLoraTargets; ++t) {
        if (suffix == kTargetTensors[t]) {
            target = static_cast<LoraTarget>(t);
            return true;
        }
    }
    return false;
}

}  // namespace

const char* lora_target_tensor(LoraTarget target) {
    return kTargetTensors[static_cast<int>(target)];
}

std::shared_ptr<const LoraAdapter> LoraAdapter::load(const std::string& path, const Model& base) {
    return load(GgufFile::open(path), base);
}

std::shared_ptr<const LoraAdapter> LoraAdapter::load(const GgufFile& file, const Model& base) {
    return std::shared_ptr<const LoraAdapter>(new LoraAdapter(file, base));
}

LoraAdapter::LoraAdapter(const GgufFile& file, const Model& base) : source_(file.name()) {
    const std::string where = file.name() + ": ";
    const std::string type = file.get_string("general.type").value_or("");
    if (type != "adapter") {
        throw ModelError(where + "general.type is " + (type.empty() ? "missing" : "'" + type + "'") +
                         ", not 'adapter': this is not an adapter file; give a LoRA adapter GGUF "
                         "(convert_lora_to_gguf.py or kvscope-cli make-lora)");
    }
    const std::string kind = file.get_string("adapter.type").value_or("");
    if (kind != "lora") {
        throw ModelError(where + "adapter.type is " + (kind.empty() ? "missing" : "'" + kind + "'") +
                         ", not 'lora': only LoRA adapters are supported");
    }
    const std::string arch = file.get_string("general.architecture").value_or("");
    if (arch != base.config().architecture_name) {
        throw ModelError(where + "the adapter is for architecture '" + arch + "' but the base model " +
                         base.gguf().name() + " is '" + base.config().architecture_name +
                         "'; use an adapter made for this base model");
    }
    const std::optional<double> alpha = file.get_float("adapter.lora.alpha");
    if (!alpha) {
        throw ModelError(where + "adapter.lora.alpha is missing: the delta's scale (alpha / rank) is unknown; "
                         "re-convert the adapter with its lora_alpha");
    }
    alpha_ = static_cast<float>(*alpha);

    // Every tensor is one half of a pair; collect the base tensors they adapt.
    std::set<std::string> targets;
    for (const GgufTensorInfo& t : file.tensors()) {
        if (!ends_with(t.name, kSuffixA) && !ends_with(t.name, kSuffixB)) {
            throw ModelError(where + "tensor '" + t.name +
                             "' is neither <base tensor>.lora_a nor <base tensor>.lora_b; the file is not a "
                             "LoRA adapter as llama.cpp writes it");
        }
        targets.insert(t.name.substr(0, t.name.size() - kSuffixA.size()));
    }
    if (targets.empty()) throw ModelError(where + "the adapter has no lora_a/lora_b tensors; it adapts nothing");
    weights_.layers.resize(static_cast<std::size_t>(base.shape().num_layers));
    for (const std::string& target : targets) add_pair(file, base, target);
    rank_ = weights_.max_rank();
}

void LoraAdapter::add_pair(const GgufFile& file, const Model& base, const std::string& target) {
    const std::string where = file.name() + ": ";
    int layer = 0;
    LoraTarget projection{};
    if (!parse_target(target, base.shape().num_layers, layer, projection)) {
        if (base.gguf().find_tensor(target) == nullptr) {
            throw ModelError(where + "the adapter adapts '" + target +
                             "', which the base model does not have; it was made for another base model");
        }
        throw ModelError(where + "the adapter adapts '" + target +
                         "', which kvscope cannot adapt (only blk.N attn_q/attn_k/attn_v/attn_output/ffn_gate/"
                         "ffn_up/ffn_down); convert the adapter without it");
    }
    const GgufTensorInfo* a = file.find_tensor(target + std::string(kSuffixA));
    const GgufTensorInfo* b = file.find_tensor(target + std::string(kSuffixB));
    if (a == nullptr || b == nullptr) {
        throw ModelError(where + "'" + target + "' has " + (a ? "lora_a but no lora_b" : "lora_b but no lora_a") +
                         "; the adapter is incomplete, re-convert it");
    }
    const GgufTensorInfo* w = base.gguf().find_tensor(target);  // present: read_model_config checked it
    const std::int64_t in = w->shape[0], out = w->shape[1];
    if (a->shape.size() != 2 || b->shape.size() != 2 || a->shape[0] != in || b->shape[1] != out) {
        throw ModelError(where + "'" + target + "': lora_a is " + shape_text(a->shape) + " and lora_b " +
                         shape_text(b->shape) + " but the base weight is " + shape_text(w->shape) +
                         ", so lora_a must be [" + std::to_string(in) + ", rank] and lora_b [rank, " +
                         std::to_string(out) + "] (GGUF order); the adapter was made for another base model");
    }
    if (a->shape[1] != b->shape[0]) {
        throw ModelError(where + "'" + target + "': lora_a has rank " + std::to_string(a->shape[1]) +
                         " but lora_b rank " + std::to_string(b->shape[0]) +
                         " (is lora_a transposed?); re-convert the adapter");
    }
    for (const GgufTensorInfo* t : {a, b}) {
        if (!type_info(t->type).computable) {
            throw ModelError(where + "tensor '" + t->name + "' has type " + std::string(type_name(t->type)) +
                             ", which kvscope cannot read; use one of " + std::string(computable_type_names()));
        }
    }
    // Both halves to f32.
    auto to_f32 = [&](const GgufTensorInfo& t) {
        std::vector<float>& out_data = data_.emplace_back(static_cast<std::size_t>(t.num_elements()));
        const auto bytes = file.tensor_data(t);
        if (t.type == TensorType::F32) {
            std::memcpy(out_data.data(), bytes.data(), bytes.size());
        } else {
            dequantize_row(t.type, bytes.data(), out_data.data(), t.num_elements());
        }
        return out_data.data();
    };
    LoraPair& p = weights_.layers[static_cast<std::size_t>(layer)][static_cast<std::size_t>(projection)];
    p.rank = static_cast<std::int32_t>(a->shape[1]);
    p.in = static_cast<std::int32_t>(in);
    p.out = static_cast<std::int32_t>(out);
    // As llama.cpp: alpha 0 means no scaling.
    p.scale = alpha_ == 0.0f ? 1.0f : alpha_ / static_cast<float>(p.rank);
    p.a = to_f32(*a);
    p.b = to_f32(*b);
    ++num_pairs_;
}

}  // namespace kvscope
