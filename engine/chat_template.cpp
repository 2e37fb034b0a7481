#include "engine/chat_template.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>

#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace kvscope {

namespace {

// DeepSeek-R1's markers (the bars are U+FF5C, the space in end▁of▁sentence U+2581).
constexpr std::string_view kDeepSeekUser = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";
constexpr std::string_view kDeepSeekAssistant =
    "<\xEF\xBD\x9C"
    "Assistant\xEF\xBD\x9C>";
constexpr std::string_view kDeepSeekEnd =
    "<\xEF\xBD\x9C"
    "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

// Python's str.isspace() for one code point.
bool is_python_space(char32_t cp) {
    return is_whitespace(cp) || (cp >= 0x1C && cp <= 0x1F);
}

// Undoes the escapes of a Jinja string literal (\n, \t, \\, \', \").
std::string unescape_jinja_literal(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] != '\\' || i + 1 == text.size()) {
            out.push_back(text[i]);
            continue;
        }
        const char next = text[++i];
        out.push_back(next == 'n' ? '\n' : next == 't' ? '\t' : next);
    }
    return out;
}

// The literal default system prompt of a ChatML template: the text of a string literal
// '<|im_start|>system\n...<|im_end|>' with nothing computed inside (Qwen2's
// "You are a helpful assistant."). "" when the template has none.
std::string chatml_default_system(std::string_view source) {
    for (std::string_view marker : {"<|im_start|>system\\n", "<|im_start|>system\n"}) {
        for (std::size_t at = source.find(marker); at != std::string_view::npos; at = source.find(marker, at + 1)) {
            const std::size_t begin = at + marker.size();
            const std::size_t end = source.find("<|im_end|>", begin);
            if (end == std::string_view::npos) break;
            const std::string_view body = source.substr(begin, end - begin);
            if (body.find_first_of("'\"{}+") != std::string_view::npos) continue;  // computed, not literal
            return unescape_jinja_literal(body);
        }
    }
    return {};
}

// A string literal of the template, in either quote.
bool has_literal(std::string_view source, std::string_view text) {
    const std::string body(text);
    return contains(source, "'" + body + "'") || contains(source, "\"" + body + "\"");
}

// Mistral's templates differ in the spaces inside their [INST] literals (chat_template.h).
std::optional<ChatTemplateKind> mistral_kind(std::string_view source) {
    if (contains(source, "[SYSTEM_PROMPT]")) {
        if (has_literal(source, "[SYSTEM_PROMPT] ") && has_literal(source, "[INST] "))
            return ChatTemplateKind::MistralV7;
        return std::nullopt;  // Mistral Small 3's, with its dated default system prompt
    }
    if (has_literal(source, " [INST] ")) return ChatTemplateKind::MistralV1;
    if (has_literal(source, "[INST] ")) {
        return has_literal(source, " [/INST]") ? ChatTemplateKind::MistralLegacy : ChatTemplateKind::MistralV3;
    }
    if (has_literal(source, "[INST]")) return ChatTemplateKind::MistralV3Tekken;
    return std::nullopt;
}

// The text of the template from `marker` up to the end of its string literal or its first
// escaped newline; "" when the marker is not there.
std::string literal_after(std::string_view source, std::string_view marker) {
    const std::size_t at = source.find(marker);
    if (at == std::string_view::npos) return {};
    const std::size_t begin = at + marker.size();
    std::size_t end = begin;
    while (end < source.size() && source[end] != '"' && source[end] != '\'' && source[end] != '\\') ++end;
    return std::string(source.substr(begin, end - begin));
}

// Today as Python's strftime("%d %b %Y") writes it in the C locale: "05 Dec 2026".
std::string today_as_strftime() {
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const std::time_t now = std::time(nullptr);
    std::tm local{};
    localtime_r(&now, &local);
    char text[32];
    std::snprintf(text, sizeof text, "%02d %s %04d", local.tm_mday, kMonths[local.tm_mon % 12], local.tm_year + 1900);
    return text;
}

ChatTemplateKind detect_kind(std::string_view source, bool& recognised) {
    recognised = true;
    if (python_strip(source).empty()) return ChatTemplateKind::Plain;
    if (contains(source, "<|im_start|>")) return ChatTemplateKind::ChatMl;
    if (contains(source, "<|start_header_id|>")) return ChatTemplateKind::Llama3;
    if (contains(source, "[INST]") && contains(source, "<<SYS>>")) return ChatTemplateKind::Llama2;
    if (contains(source, kDeepSeekUser) && contains(source, kDeepSeekAssistant)) return ChatTemplateKind::DeepSeekR1;
    if (contains(source, "[INST]")) {
        if (const std::optional<ChatTemplateKind> kind = mistral_kind(source)) return *kind;
        recognised = false;
        return ChatTemplateKind::Plain;
    }
    if (contains(source, "<|user|>") && contains(source, "<|assistant|>") && !contains(source, "<|end|>")) {
        return ChatTemplateKind::Zephyr;
    }
    recognised = false;
    return ChatTemplateKind::Plain;
}

}  // namespace

std::string_view python_strip(std::string_view text) {
    std::size_t begin = 0;
    while (begin < text.size()) {
        const Utf8Step step = utf8_next(text, begin);
        if (step.status != Utf8Status::Valid || !is_python_space(step.cp)) break;
        begin += step.length;
    }
    std::size_t end = text.size();
    while (end > begin) {
        // The last character starts at the last byte that is not a continuation byte.
        std::size_t start = end - 1;
        while (start > begin && end - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
        const Utf8Step step = utf8_next(text.substr(0, end), start);
        if (step.status != Utf8Status::Valid || start + step.length != end || !is_python_space(step.cp)) break;
        end = start;
    }
    return text.substr(begin, end - begin);
}

ChatTemplate::ChatTemplate(ChatTemplateKind kind, std::string_view bos_token, std::string_view eos_token)
    : kind_(kind), bos_token_(bos_token), eos_token_(eos_token) {
    switch (kind_) {
        case ChatTemplateKind::ChatMl:
            stop_strings_ = {"<|im_end|>", "<|endoftext|>"};
            break;
        case ChatTemplateKind::Llama3:
            stop_strings_ = {"<|eot_id|>", "<|end_of_text|>"};
            break;
        case ChatTemplateKind::Llama2:
        case ChatTemplateKind::Zephyr:
        case ChatTemplateKind::MistralLegacy:
        case ChatTemplateKind::MistralV1:
        case ChatTemplateKind::MistralV3:
        case ChatTemplateKind::MistralV3Tekken:
        case ChatTemplateKind::MistralV7:
            stop_strings_ = {eos_token_};
            break;
        case ChatTemplateKind::DeepSeekR1:
            stop_strings_ = {std::string(kDeepSeekEnd)};
            break;
        case ChatTemplateKind::Plain:
            break;
    }
}

ChatTemplate ChatTemplate::detect(std::string_view jinja_source, std::string_view bos_token,
                                  std::string_view eos_token) {
    bool recognised = true;
    ChatTemplate result(detect_kind(jinja_source, recognised), bos_token, eos_token);
    result.recognised_ = recognised;
    if (result.kind_ == ChatTemplateKind::ChatMl) result.default_system_ = chatml_default_system(jinja_source);
    if (result.kind_ == ChatTemplateKind::Llama3) {
        result.knowledge_date_ = literal_after(jinja_source, "Cutting Knowledge Date: ");
        if (!contains(jinja_source, "strftime_now(")) {
            result.default_date_ = literal_after(jinja_source, "set date_string = \"");
            if (result.default_date_.empty()) result.default_date_ = literal_after(jinja_source, "set date_string = '");
        }
    }
    if (result.kind_ == ChatTemplateKind::DeepSeekR1) {
        result.think_prompt_ = contains(jinja_source, std::string(kDeepSeekAssistant) + "<think>");
    }
    return result;
}

ChatTemplate ChatTemplate::with_today(std::string date) const {
    ChatTemplate copy = *this;
    copy.today_ = std::move(date);
    return copy;
}

ChatTemplate ChatTemplate::for_model(std::string_view jinja_source, const Tokenizer& tokenizer) {
    const std::string bos = tokenizer.bos_id() >= 0 ? tokenizer.token_text(tokenizer.bos_id()) : "<s>";
    const std::string eos = tokenizer.eos_id() >= 0 ? tokenizer.token_text(tokenizer.eos_id()) : "</s>";
    return detect(jinja_source, bos, eos);
}

ChatTemplate ChatTemplate::of_kind(ChatTemplateKind kind, std::string_view bos_token, std::string_view eos_token) {
    return ChatTemplate(kind, bos_token, eos_token);
}

std::string_view ChatTemplate::name() const {
    switch (kind_) {
        case ChatTemplateKind::Plain:
            return recognised_ ? "plain" : "unrecognised";
        case ChatTemplateKind::ChatMl:
            return "chatml";
        case ChatTemplateKind::Llama2:
            return "llama2";
        case ChatTemplateKind::Llama3:
            return knowledge_date_.empty() ? "llama3" : "llama3.1";
        case ChatTemplateKind::Zephyr:
            return "zephyr";
        case ChatTemplateKind::MistralLegacy:
            return "mistral-legacy";
        case ChatTemplateKind::MistralV1:
            return "mistral-v1";
        case ChatTemplateKind::MistralV3:
            return "mistral-v3";
        case ChatTemplateKind::MistralV3Tekken:
            return "mistral-v3-tekken";
        case ChatTemplateKind::MistralV7:
            return "mistral-v7";
        case ChatTemplateKind::DeepSeekR1:
            return "deepseek-r1";
    }
    return "?";
}

std::string ChatTemplate::apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
    switch (kind_) {
        case ChatTemplateKind::ChatMl:
            return render_chatml(messages, add_generation_prompt);
        case ChatTemplateKind::Llama2:
            return render_llama2(messages);
        case ChatTemplateKind::Llama3:
            return render_llama3(messages, add_generation_prompt);
        case ChatTemplateKind::Zephyr:
            return render_zephyr(messages, add_generation_prompt);
        case ChatTemplateKind::MistralLegacy:
        case ChatTemplateKind::MistralV1:
        case ChatTemplateKind::MistralV3:
        case ChatTemplateKind::MistralV3Tekken:
        case ChatTemplateKind::MistralV7:
            return render_mistral(messages);
        case ChatTemplateKind::DeepSeekR1:
            return render_deepseek_r1(messages, add_generation_prompt);
        case ChatTemplateKind::Plain:
            break;
    }
    std::string out;
    for (const ChatMessage& message : messages) out += message.content;
    return out;
}

std::string ChatTemplate::render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
    std::string out;
    if (!messages.empty() && messages[0].role != "system" && !default_system_.empty()) {
        out += "<|im_start|>system\n" + default_system_ + "<|im_end|>\n";
    }
    for (const ChatMessage& message : messages) {
        out += "<|im_start|>" + message.role + "\n" + message.content + "<|im_end|>\n";
    }
    if (add_generation_prompt) out += "<|im_start|>assistant\n";
    return out;
}

// Llama-2-chat: the system prompt goes inside the first turn; every user turn is wrapped in
// BOS [INST] ... [/INST] (content stripped, system block included), every assistant turn
// is " {content} EOS".
std::string ChatTemplate::render_llama2(std::span<const ChatMessage> messages) const {
    std::size_t first = 0;
    const ChatMessage* system = nullptr;
    if (!messages.empty() && messages[0].role == "system") {
        system = &messages[0];
        first = 1;
    }
    std::string out;
    for (std::size_t i = first; i < messages.size(); ++i) {
        std::string content = messages[i].content;
        if (i == first && system != nullptr) content = "<<SYS>>\n" + system->content + "\n<</SYS>>\n\n" + content;
        const std::string_view stripped = python_strip(content);
        if (messages[i].role == "user") {
            out.append(bos_token_).append("[INST] ").append(stripped).append(" [/INST]");
        } else if (messages[i].role == "assistant") {
            out.append(" ").append(stripped).append(" ").append(eos_token_);
        }
    }
    if (!bos_token_.empty() && out.starts_with(bos_token_)) out.erase(0, bos_token_.size());  // BOS is the tokenizer's
    return out;
}

std::string ChatTemplate::render_llama3(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
    std::string out;
    std::size_t first = 0;
    if (!knowledge_date_.empty()) {
        // Llama 3.1's system turn: always there, the first message's content when it is a system one.
        std::string_view system;
        if (!messages.empty() && messages[0].role == "system") {
            system = python_strip(messages[0].content);
            first = 1;
        }
        const std::string date = !today_.empty()          ? today_
                                 : !default_date_.empty() ? default_date_
                                                          : today_as_strftime();
        out.append("<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: ").append(knowledge_date_);
        out.append("\nToday Date: ").append(date).append("\n\n").append(system).append("<|eot_id|>");
    }
    for (std::size_t i = first; i < messages.size(); ++i) {
        out.append("<|start_header_id|>").append(messages[i].role).append("<|end_header_id|>\n\n");
        out.append(python_strip(messages[i].content)).append("<|eot_id|>");
    }
    if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
    return out;
}

std::string ChatTemplate::render_zephyr(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
    std::string out;
    for (const ChatMessage& message : messages) {
        if (message.role != "user" && message.role != "system" && message.role != "assistant") continue;
        out += "<|" + message.role + "|>\n" + message.content + eos_token_ + "\n";
    }
    // The reference template writes the prompt inside its loop, after the last message.
    if (add_generation_prompt && !messages.empty()) out += "<|assistant|>\n";
    return out;
}

// Mistral's families (chat_template.h). v7 writes every system message where it stands; the
// others take the first message's as the system prompt and put it in front of the first (legacy,
// v1) or the last (v3, tekken) message of the rest when that is a user turn. Other roles skipped.
std::string ChatTemplate::render_mistral(std::span<const ChatMessage> messages) const {
    const bool v7 = kind_ == ChatTemplateKind::MistralV7;
    const bool tekken = kind_ == ChatTemplateKind::MistralV3Tekken;
    const bool system_last = kind_ == ChatTemplateKind::MistralV3 || tekken;
    const std::string open = kind_ == ChatTemplateKind::MistralV1 ? " [INST] " : tekken ? "[INST]" : "[INST] ";
    const std::string close =
        kind_ == ChatTemplateKind::MistralV1 || kind_ == ChatTemplateKind::MistralLegacy ? " [/INST]" : "[/INST]";
    const bool answer_space = !tekken && kind_ != ChatTemplateKind::MistralLegacy;

    std::size_t first = 0;
    const ChatMessage* system = nullptr;
    if (!v7 && !messages.empty() && messages[0].role == "system") {
        system = &messages[0];
        first = 1;
    }
    const std::size_t system_at = system == nullptr ? messages.size() : system_last ? messages.size() - 1 : first;
    std::string out;
    for (std::size_t i = first; i < messages.size(); ++i) {
        const ChatMessage& message = messages[i];
        if (message.role == "user") {
            out += open;
            if (i == system_at) out += system->content + "\n\n";
            out += message.content + close;
        } else if (message.role == "assistant") {
            if (answer_space) out += " ";
            out.append(kind_ == ChatTemplateKind::MistralV3 ? python_strip(message.content) : message.content);
            out += eos_token_;
        } else if (v7 && message.role == "system") {
            out += "[SYSTEM_PROMPT] " + message.content + "[/SYSTEM_PROMPT]";
        }
    }
    return out;
}

// DeepSeek-R1: the last system message leads; an earlier answer keeps only what follows its
// reasoning (the text after its last </think>). Tool roles are skipped.
std::string ChatTemplate::render_deepseek_r1(std::span<const ChatMessage> messages, bool add_generation_prompt) const {
    std::string out;
    for (const ChatMessage& message : messages) {
        if (message.role == "system") out = message.content;
    }
    for (const ChatMessage& message : messages) {
        if (message.role == "user") {
            out.append(kDeepSeekUser).append(message.content);
        } else if (message.role == "assistant") {
            std::string_view answer = message.content;
            if (const std::size_t end = answer.rfind("</think>"); end != std::string_view::npos) {
                answer.remove_prefix(end + std::string_view("</think>").size());
            }
            out.append(kDeepSeekAssistant).append(answer).append(kDeepSeekEnd);
        }
    }
    if (add_generation_prompt) {
        out.append(kDeepSeekAssistant);
        if (think_prompt_) out.append("<think>\n");
    }
    return out;
}

std::vector<std::int32_t> ChatTemplate::stop_tokens(const Tokenizer& tokenizer) const {
    std::vector<std::int32_t> ids;
    for (const std::string& text : stop_strings_) {
        if (const auto id = tokenizer.find_token(text)) ids.push_back(*id);
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

}  // namespace kvscope
