// kvscope-cli info: what a GGUF file holds, and whether kvscope can run it.

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/chat_template.h"
#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "resources/embedded_model.h"

namespace kvscope::cli {
namespace {

std::string shape_text(const std::vector<std::int64_t>& shape) {
    std::string s;
    for (size_t i = 0; i < shape.size(); ++i) s += (i ? " x " : "") + std::to_string(shape[i]);
    return s;
}

nlohmann::json value_json(const GgufValue& v, std::size_t max_items) {
    if (const std::string* s = v.as_string()) return *s;
    if (const GgufValue::Array* a = v.as_array()) {
        nlohmann::json items = nlohmann::json::array();
        for (std::size_t i = 0; i < a->size() && i < max_items; ++i) items.push_back(value_json((*a)[i], max_items));
        return {{"type", "array"},
                {"element_type", gguf_value_type_name(v.element_type())},
                {"count", a->size()},
                {"items", items}};
    }
    if (auto b = v.as_bool(); b && v.type() == GgufValueType::Bool) return *b;
    if (v.is_integer()) return *v.as_int();
    return *v.as_float();
}

nlohmann::json config_json(const ModelConfig& c) {
    const ModelShape& s = c.shape;
    return {{"architecture", c.architecture_name},
            {"name", c.name},
            {"num_layers", s.num_layers},
            {"dim", s.dim},
            {"ffn_dim", s.ffn_dim},
            {"num_heads", s.num_heads},
            {"num_kv_heads", s.num_kv_heads},
            {"head_dim", s.head_dim},
            {"vocab_size", s.vocab_size},
            {"rope_dim", s.rope_dim},
            {"rope_freq_base", s.rope_freq_base},
            {"rope_style", s.rope_style == RopeStyle::Neox ? "neox" : "normal"},
            {"rms_eps", s.rms_eps},
            {"context_length", s.max_context},
            {"tied_embeddings", c.tied_embeddings},
            {"qkv_bias", c.has_qkv_bias},
            {"weight_type", type_name(c.weight_type)},
            {"file_type", c.file_type.empty() ? nlohmann::json(nullptr) : nlohmann::json(c.file_type)},
            {"num_params", c.num_params},
            {"weight_bytes", c.weight_bytes}};
}

// How /v1/chat/completions and the workbench's chat render a conversation.
std::string chat_line(const ChatTemplate& chat) {
    if (!chat.recognised()) {
        return "unrecognised template: chat turns are joined into one text (kvscope renders " +
               std::string(kRenderedChatFamilies) + ")";
    }
    if (chat.kind() == ChatTemplateKind::Plain) return "no template: chat turns are joined into one text";
    return std::string(chat.name()) + " template";
}

}  // namespace

int run_info(const std::vector<std::string>& args) {
    const ArgParser parser("info", "Print a GGUF model's metadata, tensor table and whether kvscope can run it.",
                           {{"model", "PATH", "model file (default: the embedded stories260K)"},
                            {"json", "", "print one JSON object instead of text"},
                            {"max-items", "N", "array items shown per metadata value (default 8)"}});
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::string source = a.string("model").value_or(std::string(kEmbeddedModelName));
    const std::size_t max_items = static_cast<std::size_t>(a.integer("max-items", 8, 0, 1 << 20));
    const GgufFile file = source == kEmbeddedModelName
                              ? GgufFile::from_memory(embedded_model_bytes(), std::string(kEmbeddedModelName))
                              : GgufFile::open(source);

    // Whether the forward pass can run it: a ModelError is reported, not thrown.
    std::optional<ModelConfig> config;
    std::optional<ChatTemplate> chat;
    std::string problem;
    try {
        config = read_model_config(file);
        // The tokenizer as Model::load reads it: special token ids, and a vocabulary that fits.
        const Tokenizer tokenizer(tokenizer_spec_from_gguf(file));
        check_tokenizer_fits(tokenizer, *config, file.name());
        chat = ChatTemplate::for_model(file.get_string("tokenizer.chat_template").value_or(""), tokenizer);
    } catch (const ModelError& e) {
        config.reset();
        problem = e.what();
    }

    if (a.has("json")) {
        nlohmann::json j = {{"file", file.name()},
                            {"gguf_version", file.version()},
                            {"alignment", file.alignment()},
                            {"file_bytes", file.file_size()},
                            {"runnable", config.has_value()}};
        if (config) {
            j["config"] = config_json(*config);
            j["chat_template"] = chat->name();
        } else {
            j["error"] = problem;
        }
        nlohmann::json meta = nlohmann::json::object();
        for (const auto& [key, value] : file.metadata()) meta[key] = value_json(value, max_items);
        j["metadata"] = meta;
        nlohmann::json tensors = nlohmann::json::array();
        for (const GgufTensorInfo& t : file.tensors()) {
            tensors.push_back({{"name", t.name},
                               {"type", type_name(t.type)},
                               {"shape", t.shape},
                               {"offset", file.data_offset() + t.offset},
                               {"bytes", t.num_bytes}});
        }
        j["tensors"] = tensors;
        std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        return 0;
    }

    std::printf("file:          %s (%zu bytes, GGUF v%u, alignment %zu)\n", file.name().c_str(), file.file_size(),
                file.version(), file.alignment());
    if (config) {
        const ModelShape& s = config->shape;
        std::printf("model:         %s (%s), %.1fM parameters, mostly %s%s\n", config->name.c_str(),
                    config->architecture_name.c_str(), double(config->num_params) / 1e6,
                    std::string(type_name(config->weight_type)).c_str(),
                    config->file_type.empty() ? "" : (" (file type " + config->file_type + ")").c_str());
        std::printf(
            "shape:         %d layers, embedding %d, feed-forward %d, heads %d (kv %d), head size %d, vocab %d\n",
            s.num_layers, s.dim, s.ffn_dim, s.num_heads, s.num_kv_heads, s.head_dim, s.vocab_size);
        std::printf("rope:          %s, dims %d, base %g, context %d%s\n",
                    s.rope_style == RopeStyle::Neox ? "neox" : "normal", s.rope_dim, double(s.rope_freq_base),
                    s.max_context, config->tied_embeddings ? ", tied embeddings" : "");
        std::printf("chat:          %s\n", chat_line(*chat).c_str());
        std::printf("runnable:      yes\n");
    } else {
        std::printf("runnable:      no: %s\n", problem.c_str());
    }
    std::printf("\nmetadata (%zu keys):\n", file.metadata().size());
    for (const auto& [key, value] : file.metadata()) {
        std::printf("  %-44s %-8s %s\n", key.c_str(), std::string(gguf_value_type_name(value.type())).c_str(),
                    value.to_display_string(max_items).c_str());
    }
    std::printf("\ntensors (%zu):\n", file.tensors().size());
    std::printf("  %-36s %-6s %-18s %12s\n", "name", "type", "shape", "bytes");
    for (const GgufTensorInfo& t : file.tensors()) {
        std::printf("  %-36s %-6s %-18s %12llu\n", t.name.c_str(), std::string(type_name(t.type)).c_str(),
                    shape_text(t.shape).c_str(), static_cast<unsigned long long>(t.num_bytes));
    }
    return 0;
}

}  // namespace kvscope::cli
