#pragma once
// Chat prompts: the conversation rendered the way a model's Jinja chat template
// (`tokenizer.chat_template`) would render it, for the template families kvscope recognises.
// There is no Jinja interpreter: the family is detected from distinctive markers in the source
// and rendered by hand-written code that reproduces the family's reference template.
//
//   ChatMl   "<|im_start|>"          <|im_start|>{role}\n{content}<|im_end|>\n ... then
//                                     <|im_start|>assistant\n; a default system prompt written in
//                                     the template (Qwen2: "You are a helpful assistant.") is used
//                                     when the conversation has none
//   Llama3   "<|start_header_id|>"   <|start_header_id|>{role}<|end_header_id|>\n\n{content
//                                     stripped}<|eot_id|> ... (Llama-3 / 3-Instruct); "llama3.1"
//            where the template writes "Cutting Knowledge Date:" (Llama 3.1, 3.2, 3.3): a system
//            turn always comes first, "Cutting Knowledge Date: {as written}\nToday Date: {date}\n\n"
//            then the first message's content when it is a system message (stripped). The date is
//            today's ("%d %b %Y", local time) where the template calls strftime_now, as
//            transformers and llama.cpp render it, else the template's own default ("26 Jul 2024")
//   Llama2   "[INST]" and "<<SYS>>"  [INST] <<SYS>>\n{system}\n<</SYS>>\n\n{user} [/INST] {assistant}
//                                     </s><s>[INST] ... (Llama-2-chat; no generation prompt)
//   Zephyr   "<|user|>", "<|assistant|>" (and no "<|end|>", which marks Phi-3)
//                                     <|{role}|>\n{content}</s>\n ... then <|assistant|>\n
//   Mistral  "[INST]" without "<<SYS>>": Mistral AI's instruct templates, told apart by the
//            spacing of their literals (llama.cpp's names):
//     mistral-v1        ' [INST] ' ... ' [/INST]', answers ' {content}</s>', the system prompt
//                       before the first user message (Mistral-7B-Instruct v0.1/v0.2, Mixtral)
//     mistral-v3        '[INST] ' ... '[/INST]', answers ' {content stripped}</s>', the system
//                       prompt before the *last* user message (Mistral-7B-Instruct v0.3)
//     mistral-v3-tekken '[INST]' ... '[/INST]', answers '{content}</s>', system as v3 (Nemo)
//     mistral-v7        '[SYSTEM_PROMPT] {system}[/SYSTEM_PROMPT]', '[INST] ' ... '[/INST]',
//                       answers ' {content}</s>' (Mistral-Large-2411)
//     mistral-legacy    '[INST] ' ... ' [/INST]', answers '{content}</s>' (the first v0.1/v0.2
//                       template, which refuses a system message: it goes before the first user
//                       message as in v1)
//            None has a generation prompt: the prompt ends with the last user turn's [/INST].
//   DeepSeekR1 "<｜User｜>" and "<｜Assistant｜>" (DeepSeek-R1's distilled Llama and Qwen2
//            models): {last system message}<｜User｜>{content}<｜Assistant｜>{answer after its last
//            </think>}<｜end▁of▁sentence｜> ... then <｜Assistant｜>, and <think>\n where the
//            template writes it (its later revision)
//            Mistral Small 3's '[SYSTEM_PROMPT]' template (a default system prompt with today's
//            date) is not recognised.
//   Plain    no template, or one that matches no family (recognised() tells which)
//
// The rendered text never starts with the BOS token even where the Jinja template writes one
// (Llama-2, Llama-3): tokenize it with Tokenizer::encode(text, add_special = true,
// parse_special = true), which adds BOS as the model's add_bos flag says and turns the markers
// into their special tokens. BOS/EOS texts inside the conversation (Llama-2's "</s><s>") stay.
//
// Plain is for story models such as the embedded stories260K: the message contents are
// concatenated in order with nothing between them and no generation prompt, so a "chat" is the
// story so far and the model continues it (re-tokenizing the same text also gives the same
// prefix, which keeps the prefix cache effective). Roles are not shown.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kvscope {

class Tokenizer;

struct ChatMessage {
    std::string role;  // "system", "user", "assistant" (other roles pass through where the family allows)
    std::string content;
};

// The families apply() renders, as named to users where a template is none of them.
inline constexpr std::string_view kRenderedChatFamilies = "ChatML, Llama 2/3, Mistral, Zephyr, DeepSeek-R1";

enum class ChatTemplateKind {
    Plain,
    ChatMl,
    Llama2,
    Llama3,
    Zephyr,
    MistralLegacy,
    MistralV1,
    MistralV3,
    MistralV3Tekken,
    MistralV7,
    DeepSeekR1,
};

class ChatTemplate {
public:
    // Detects the family of `jinja_source`. bos_token/eos_token are the texts the template's
    // bos_token/eos_token variables stand for (Llama-2 and Zephyr write them into turns).
    static ChatTemplate detect(std::string_view jinja_source, std::string_view bos_token = "<s>",
                               std::string_view eos_token = "</s>");
    // As detect(), with the BOS/EOS texts taken from the tokenizer (when it has those tokens).
    static ChatTemplate for_model(std::string_view jinja_source, const Tokenizer& tokenizer);
    // A family chosen by hand.
    static ChatTemplate of_kind(ChatTemplateKind kind, std::string_view bos_token = "<s>",
                                std::string_view eos_token = "</s>");

    ChatTemplateKind kind() const { return kind_; }
    // "plain", "chatml", "llama2", "llama3", "zephyr", "mistral-v1", ...; "unrecognised" for a
    // template that matched no family (rendered as Plain).
    std::string_view name() const;
    // False when a non-empty template matched no family and Plain is used instead.
    bool recognised() const { return recognised_; }
    // ChatMl: the system prompt the template adds when the conversation has none ("" if none).
    const std::string& default_system_prompt() const { return default_system_; }
    // Llama 3.1: a copy that writes `date` as today's date (for tests, and for rendering again as
    // of a given day).
    ChatTemplate with_today(std::string date) const;

    // The prompt for `messages`; add_generation_prompt appends the start of an assistant turn
    // (ChatMl, Llama3, Zephyr, DeepSeekR1; Llama-2, Mistral and Plain have none). Never throws: roles that the
    // reference template would reject (Llama-2's and Mistral's strict user/assistant alternation)
    // are rendered anyway, and roles a family has no place for (Zephyr, Mistral: not
    // system/user/assistant) are skipped.
    std::string apply(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

    // Texts that end the assistant's turn in this family ("<|im_end|>", "<|eot_id|>", EOS).
    const std::vector<std::string>& stop_strings() const { return stop_strings_; }
    // The stop strings that are single tokens of `tokenizer`, as ids (sorted, unique).
    std::vector<std::int32_t> stop_tokens(const Tokenizer& tokenizer) const;

private:
    ChatTemplate(ChatTemplateKind kind, std::string_view bos_token, std::string_view eos_token);

    std::string render_chatml(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
    std::string render_llama2(std::span<const ChatMessage> messages) const;
    std::string render_llama3(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
    std::string render_zephyr(std::span<const ChatMessage> messages, bool add_generation_prompt) const;
    std::string render_mistral(std::span<const ChatMessage> messages) const;
    std::string render_deepseek_r1(std::span<const ChatMessage> messages, bool add_generation_prompt) const;

    ChatTemplateKind kind_ = ChatTemplateKind::Plain;
    bool recognised_ = true;
    std::string bos_token_;
    std::string eos_token_;
    std::string default_system_;
    bool think_prompt_ = false;  // DeepSeekR1: the generation prompt opens a <think> block
    std::string knowledge_date_;  // Llama 3.1: "December 2023"; empty for Llama 3
    std::string default_date_;    // Llama 3.1: the template's date_string when it asks for no strftime_now
    std::string today_;           // Llama 3.1: the date written; empty: today's, at apply()
    std::vector<std::string> stop_strings_;
};

// Python's str.strip() (what Jinja's `| trim` and `.strip()` do): removes leading and trailing
// Unicode whitespace (White_Space and U+001C..U+001F).
std::string_view python_strip(std::string_view text);

}  // namespace kvscope
