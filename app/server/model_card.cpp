#include "app/server/model_card.h"

#include <limits>
#include <nlohmann/json.hpp>

namespace kvscope::server {

std::int32_t first_ordinary_token(const Tokenizer& tokenizer) {
    for (std::int32_t id = 0; id < tokenizer.vocab_size(); ++id) {
        const TokenType t = tokenizer.token_type(id);
        if (t == TokenType::Normal || t == TokenType::Undefined) return id;
    }
    return 0;
}

ModelCard model_card(const ServingInfo& info) {
    const Model& model = *info.model;
    const Tokenizer& tokenizer = model.tokenizer();
    ModelCard c;
    c.architecture = model.config().architecture_name;
    // the type most weights run in: the re-quantisation target when the load converted any
    const bool requantized = model.requantized_to() && model.num_requantized_weights() > 0;
    c.weight_type = requantized ? model.requantized_name() : std::string(type_name(model.config().weight_type));
    c.chat_template = std::string(model.chat_template().name());
    c.backend = info.backend;
    c.cache_dtype = std::string(type_name(info.config.cache_dtype));
    c.num_params = model.config().num_params;
    c.num_layers = model.shape().num_layers;
    c.vocab_size = model.shape().vocab_size;
    c.bos_token_id = tokenizer.bos_id();
    c.eos_token_id = tokenizer.eos_id();
    c.add_bos = tokenizer.add_bos();
    c.first_normal_token_id = first_ordinary_token(tokenizer);
    c.block_size = info.config.block_size;
    c.num_blocks = info.plan.num_blocks;
    c.block_bytes = static_cast<std::int64_t>(info.plan.block_bytes);
    c.max_model_len = info.plan.max_model_len;
    return c;
}

nlohmann::json to_json(const ModelCard& c) {
    return {{"architecture", c.architecture},   {"weight_type", c.weight_type},
            {"chat_template", c.chat_template}, {"backend", c.backend},
            {"cache_dtype", c.cache_dtype},     {"num_params", c.num_params},
            {"num_layers", c.num_layers},       {"vocab_size", c.vocab_size},
            {"bos_token_id", c.bos_token_id},   {"eos_token_id", c.eos_token_id},
            {"add_bos_token", c.add_bos},       {"first_normal_token_id", c.first_normal_token_id},
            {"block_size", c.block_size},       {"num_blocks", c.num_blocks},
            {"block_bytes", c.block_bytes},     {"max_model_len", c.max_model_len}};
}

std::optional<ModelCard> model_card_from_json(const nlohmann::json& entry) {
    if (!entry.is_object() || !entry.contains("kvscope") || !entry["kvscope"].is_object()) return std::nullopt;
    const nlohmann::json& j = entry["kvscope"];
    const auto text = [&](const char* key) {
        const auto it = j.find(key);
        return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    const auto integer = [&](const char* key, std::int64_t absent) {
        const auto it = j.find(key);
        return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : absent;
    };
    ModelCard c;
    c.architecture = text("architecture");
    c.weight_type = text("weight_type");
    c.chat_template = text("chat_template");
    c.backend = text("backend");
    c.cache_dtype = text("cache_dtype");
    const auto i32 = [&](const char* key, std::int64_t absent) {
        const std::int64_t v = integer(key, absent);
        using Limits = std::numeric_limits<std::int32_t>;
        return v < Limits::min() || v > Limits::max() ? static_cast<std::int32_t>(absent)
                                                      : static_cast<std::int32_t>(v);
    };
    c.num_params = integer("num_params", 0);
    c.num_layers = i32("num_layers", 0);
    c.vocab_size = i32("vocab_size", 0);
    c.bos_token_id = i32("bos_token_id", -1);
    c.eos_token_id = i32("eos_token_id", -1);
    const auto add_bos = j.find("add_bos_token");
    c.add_bos = add_bos != j.end() && add_bos->is_boolean() && add_bos->get<bool>() && c.bos_token_id >= 0;
    c.first_normal_token_id = i32("first_normal_token_id", -1);
    c.block_size = i32("block_size", 0);
    c.num_blocks = i32("num_blocks", 0);
    c.block_bytes = integer("block_bytes", 0);
    c.max_model_len = i32("max_model_len", 0);
    const bool vocabulary = c.vocab_size > 0 && c.first_normal_token_id >= 0 &&
                            c.first_normal_token_id < c.vocab_size && c.bos_token_id >= -1 &&
                            c.bos_token_id < c.vocab_size;
    if (!vocabulary) return std::nullopt;
    return c;
}

}  // namespace kvscope::server
