#include "engine/sampling_params.h"

#include <cmath>
#include <string_view>

#include "engine/error.h"
#include "engine/shortest_text.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

std::string format_number(double value) {
    return shortest_text(value);
}

std::string format_number(int64_t value) {
    return std::to_string(value);
}

// "invalid sampling parameter top_p = 1.5: must be in (0, 1] (1 keeps every token)"
[[noreturn]] void reject(std::string_view field, const std::string& value, std::string_view rule) {
    throw ConfigError("invalid sampling parameter " + std::string(field) + " = " + value + ": " + std::string(rule));
}

// "stop[2]" (built by appending: GCC 12 warns falsely on "literal" + std::string&&).
std::string indexed(std::string_view name, size_t index) {
    std::string out(name);
    out += '[';
    out += std::to_string(index);
    out += ']';
    return out;
}

// The string in double quotes, bytes outside printable ASCII as \xNN, cut after 40 bytes.
std::string quoted(std::string_view text) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "\"";
    for (const char ch : text.substr(0, 40)) {
        const auto byte = static_cast<unsigned char>(ch);
        if (byte >= 0x20 && byte < 0x7F && ch != '"' && ch != '\\') {
            out += ch;
        } else {
            out += "\\x";
            out += kHex[byte >> 4];
            out += kHex[byte & 0xF];
        }
    }
    out += text.size() > 40 ? "\"..." : "\"";
    return out;
}

bool is_valid_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
        const auto lead = static_cast<unsigned char>(text[i]);
        size_t num_continuation = 0;
        uint32_t code_point = 0;
        if (lead < 0x80) {
            ++i;
            continue;
        } else if ((lead & 0xE0) == 0xC0) {
            num_continuation = 1;
            code_point = lead & 0x1F;
        } else if ((lead & 0xF0) == 0xE0) {
            num_continuation = 2;
            code_point = lead & 0x0F;
        } else if ((lead & 0xF8) == 0xF0) {
            num_continuation = 3;
            code_point = lead & 0x07;
        } else {
            return false;
        }
        if (i + num_continuation >= text.size()) return false;  // truncated sequence
        for (size_t k = 1; k <= num_continuation; ++k) {
            const auto byte = static_cast<unsigned char>(text[i + k]);
            if ((byte & 0xC0) != 0x80) return false;
            code_point = (code_point << 6) | (byte & 0x3F);
        }
        // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
        static constexpr uint32_t kMinCodePoint[4] = {0, 0x80, 0x800, 0x10000};
        if (code_point < kMinCodePoint[num_continuation]) return false;
        if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
        if (code_point > 0x10FFFF) return false;
        i += num_continuation + 1;
    }
    return true;
}

}  // namespace

void SamplingParams::validate(int32_t vocab_size) const {
    KV_CHECK(vocab_size > 0);
    if (n < 1 || n > kMaxSamplesPerRequest) {
        reject("n", format_number(int64_t{n}), "must be in [1, " + std::to_string(kMaxSamplesPerRequest) + "]");
    }
    if (max_tokens < 1) reject("max_tokens", format_number(int64_t{max_tokens}), "must be at least 1");
    if (!std::isfinite(temperature) || temperature < 0.0) {
        reject("temperature", format_number(temperature), "must be a finite number >= 0 (0 = greedy)");
    }
    if (top_k < -1) reject("top_k", format_number(int64_t{top_k}), "must be -1 or 0 (off) or at least 1");
    if (!(top_p > 0.0 && top_p <= 1.0)) reject("top_p", format_number(top_p), "must be in (0, 1] (1 = off)");
    if (!(min_p >= 0.0 && min_p <= 1.0)) reject("min_p", format_number(min_p), "must be in [0, 1] (0 = off)");
    if (!std::isfinite(repetition_penalty) || repetition_penalty <= 0.0) {
        reject("repetition_penalty", format_number(repetition_penalty),
               "must be a finite number > 0 (1 = off, > 1 discourages repeats)");
    }
    if (!(presence_penalty >= -2.0 && presence_penalty <= 2.0)) {
        reject("presence_penalty", format_number(presence_penalty), "must be in [-2, 2] (0 = off)");
    }
    if (!(frequency_penalty >= -2.0 && frequency_penalty <= 2.0)) {
        reject("frequency_penalty", format_number(frequency_penalty), "must be in [-2, 2] (0 = off)");
    }
    if (logprobs && (*logprobs < 0 || *logprobs > kMaxLogprobs)) {
        reject("logprobs", format_number(int64_t{*logprobs}), "must be in [0, " + std::to_string(kMaxLogprobs) + "]");
    }
    if (prompt_logprobs && (*prompt_logprobs < 0 || *prompt_logprobs > kMaxLogprobs)) {
        reject("prompt_logprobs", format_number(int64_t{*prompt_logprobs}),
               "must be in [0, " + std::to_string(kMaxLogprobs) + "]");
    }
    for (size_t i = 0; i < stop.size(); ++i) {
        const std::string field = indexed("stop", i);
        if (stop[i].empty()) reject(field, quoted(stop[i]), "stop strings must not be empty");
        if (!is_valid_utf8(stop[i])) reject(field, quoted(stop[i]), "stop strings must be valid UTF-8");
    }
    for (size_t i = 0; i < stop_token_ids.size(); ++i) {
        const int32_t id = stop_token_ids[i];
        if (id < 0 || id >= vocab_size) {
            reject(indexed("stop_token_ids", i), format_number(int64_t{id}),
                   "must be a token id in [0, " + std::to_string(vocab_size) + ") (the model's vocabulary)");
        }
    }
}

double SamplingParams::effective_temperature() const {
    if (temperature > 0.0 && temperature < kMinTemperature) return kMinTemperature;
    return temperature;
}

bool SamplingParams::has_penalties() const {
    return repetition_penalty != 1.0 || presence_penalty != 0.0 || frequency_penalty != 0.0;
}

}  // namespace kvscope
