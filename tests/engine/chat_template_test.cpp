// Chat templates: family detection from real template sources, and rendering that matches what
// those Jinja templates produce (expected strings written out by hand).

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "engine/tokenizer.h"
#include "tests/engine/chat_conversations.h"

namespace kvscope {
namespace chat_template_test {

// Template sources as stored in GGUF (tokenizer_config.json's chat_template, JSON-decoded).
const std::string chatml_source =
    R"({% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";
const std::string qwen2_source =
    R"({% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %})";
const std::string llama3_source =
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
    "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ "
    "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";
const std::string llama2_source =
    R"({% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %})";
const std::string zephyr_source =
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
    "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token "
    "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% "
    "endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
const std::string phi3_source =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + "
    "message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') "
    "%}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}";

const std::vector<ChatMessage>& conversation = test::kConversation;
const std::vector<ChatMessage>& padded = test::kPadded;
const std::vector<ChatMessage>& no_system = test::kNoSystem;

TEST(ChatTemplate, DetectsFamiliesFromTheirMarkers) {
    EXPECT_EQ(ChatTemplate::detect(chatml_source).kind(), ChatTemplateKind::ChatMl);
    EXPECT_EQ(ChatTemplate::detect(qwen2_source).kind(), ChatTemplateKind::ChatMl);
    EXPECT_EQ(ChatTemplate::detect(llama3_source).kind(), ChatTemplateKind::Llama3);
    EXPECT_EQ(ChatTemplate::detect(llama2_source).kind(), ChatTemplateKind::Llama2);
    EXPECT_EQ(ChatTemplate::detect(zephyr_source).kind(), ChatTemplateKind::Zephyr);
    EXPECT_EQ(ChatTemplate::detect("").kind(), ChatTemplateKind::Plain);
    EXPECT_TRUE(ChatTemplate::detect("").recognised());
    EXPECT_TRUE(ChatTemplate::detect(" \n").recognised());
    // Phi-3 also writes <|user|>/<|assistant|> but ends turns with <|end|>: not Zephyr.
    const ChatTemplate phi3 = ChatTemplate::detect(phi3_source);
    EXPECT_EQ(phi3.kind(), ChatTemplateKind::Plain);
    EXPECT_FALSE(phi3.recognised());
    EXPECT_EQ(phi3.name(), "unrecognised");
    EXPECT_EQ(ChatTemplate::detect(chatml_source).name(), "chatml");
    EXPECT_EQ(ChatTemplate::detect(llama3_source).name(), "llama3");
    EXPECT_EQ(ChatTemplate::detect(llama2_source).name(), "llama2");
    EXPECT_EQ(ChatTemplate::detect(zephyr_source).name(), "zephyr");
    EXPECT_EQ(ChatTemplate::detect("").name(), "plain");
}

TEST(ChatTemplate, ChatMl) {
    const ChatTemplate chatml = ChatTemplate::detect(chatml_source);
    EXPECT_EQ(chatml.default_system_prompt(), "");
    EXPECT_EQ(chatml.apply(conversation, true),
              "<|im_start|>system\nYou are terse.<|im_end|>\n"
              "<|im_start|>user\nHello<|im_end|>\n"
              "<|im_start|>assistant\nHi there<|im_end|>\n"
              "<|im_start|>user\n  Who are you?\n<|im_end|>\n"
              "<|im_start|>assistant\n");
    EXPECT_EQ(chatml.apply(no_system, false), "<|im_start|>user\nHello<|im_end|>\n");
    EXPECT_EQ(chatml.apply({}, true), "<|im_start|>assistant\n");
    EXPECT_EQ(chatml.stop_strings(), (std::vector<std::string>{"<|im_end|>", "<|endoftext|>"}));
}

TEST(ChatTemplate, Qwen2AddsItsDefaultSystemPrompt) {
    const ChatTemplate qwen2 = ChatTemplate::detect(qwen2_source);
    EXPECT_EQ(qwen2.default_system_prompt(), "You are a helpful assistant.");
    EXPECT_EQ(qwen2.apply(no_system, true),
              "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
              "<|im_start|>user\nHello<|im_end|>\n"
              "<|im_start|>assistant\n");
    // A conversation with its own system prompt keeps it, unpadded content stays as it is.
    EXPECT_EQ(qwen2.apply(padded, false),
              "<|im_start|>system\n S <|im_end|>\n"
              "<|im_start|>user\n U1 <|im_end|>\n"
              "<|im_start|>assistant\n  A1  <|im_end|>\n"
              "<|im_start|>user\nU2<|im_end|>\n");
    EXPECT_EQ(qwen2.apply({}, true), "<|im_start|>assistant\n");
}

TEST(ChatTemplate, Llama3StripsContentAndLeavesBosToTheTokenizer) {
    const ChatTemplate llama3 = ChatTemplate::detect(llama3_source);
    EXPECT_EQ(llama3.apply(conversation, true),
              "<|start_header_id|>system<|end_header_id|>\n\nYou are terse.<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nWho are you?<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(llama3.apply(padded, false),
              "<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|>");
    EXPECT_EQ(llama3.stop_strings(), (std::vector<std::string>{"<|eot_id|>", "<|end_of_text|>"}));
}

TEST(ChatTemplate, Llama2PutsTheSystemPromptInTheFirstTurn) {
    const ChatTemplate llama2 = ChatTemplate::detect(llama2_source);
    // The reference output starts with "<s>"; that BOS is the tokenizer's to add.
    EXPECT_EQ(llama2.apply(conversation, true),
              "[INST] <<SYS>>\nYou are terse.\n<</SYS>>\n\nHello [/INST] Hi there </s>"
              "<s>[INST] Who are you? [/INST]");
    // strip() applies to the whole first turn, system block included: " U1 " keeps its leading space.
    EXPECT_EQ(llama2.apply(padded, false), "[INST] <<SYS>>\n S \n<</SYS>>\n\n U1 [/INST] A1 </s><s>[INST] U2 [/INST]");
    EXPECT_EQ(llama2.apply(no_system, true), "[INST] Hello [/INST]");
    // A system prompt with no turn after it renders nothing, as in the reference template.
    EXPECT_EQ(llama2.apply(std::vector<ChatMessage>{{"system", "S"}}, true), "");
    EXPECT_EQ(llama2.stop_strings(), (std::vector<std::string>{"</s>"}));
}

TEST(ChatTemplate, ZephyrEndsEveryTurnWithEos) {
    const ChatTemplate zephyr = ChatTemplate::detect(zephyr_source);
    EXPECT_EQ(zephyr.apply(conversation, true),
              "<|system|>\nYou are terse.</s>\n"
              "<|user|>\nHello</s>\n"
              "<|assistant|>\nHi there</s>\n"
              "<|user|>\n  Who are you?\n</s>\n"
              "<|assistant|>\n");
    EXPECT_EQ(zephyr.apply(no_system, false), "<|user|>\nHello</s>\n");
    EXPECT_EQ(zephyr.apply({}, true), "");
    const ChatTemplate other_eos = ChatTemplate::detect(zephyr_source, "<s>", "<|endoftext|>");
    EXPECT_EQ(other_eos.apply(no_system, true), "<|user|>\nHello<|endoftext|>\n<|assistant|>\n");
    EXPECT_EQ(other_eos.stop_strings(), (std::vector<std::string>{"<|endoftext|>"}));
    EXPECT_EQ(zephyr.apply(std::vector<ChatMessage>{{"tool", "x"}, {"user", "u"}}, false), "<|user|>\nu</s>\n");
}

TEST(ChatTemplate, PlainConcatenatesTheStory) {
    const ChatTemplate plain = ChatTemplate::detect("");
    const std::vector<ChatMessage> story = {
        {"user", "Once upon a time"}, {"assistant", ", there was a little girl."}, {"user", " One day"}};
    EXPECT_EQ(plain.apply(story, true), "Once upon a time, there was a little girl. One day");
    EXPECT_TRUE(plain.stop_strings().empty());
}

TEST(ChatTemplate, PythonStrip) {
    EXPECT_EQ(python_strip("  a b \n"), "a b");
    EXPECT_EQ(python_strip("\xE3\x80\x80x\xC2\xA0"), "x");      // U+3000, U+00A0
    EXPECT_EQ(python_strip("\x1Fx\x1C"), "x");                  // Python's isspace() has U+001C..U+001F
    EXPECT_EQ(python_strip("\xE2\x80\x8Bx"), "\xE2\x80\x8Bx");  // U+200B is not whitespace
    EXPECT_EQ(python_strip(" \xE4\xB8\xAD "), "\xE4\xB8\xAD");
    EXPECT_EQ(python_strip("   "), "");
    EXPECT_EQ(python_strip("a\xFF "), "a\xFF");
}

TEST(ChatTemplate, StopTokensAndModelTokens) {
    TokenizerSpec spec;
    spec.model = "gpt2";
    spec.tokens = {"a", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "</s>"};
    spec.token_types = {TokenType::Normal, TokenType::Control, TokenType::Control, TokenType::Control,
                        TokenType::Control};
    spec.eos_id = 3;
    const Tokenizer tok(spec);
    const ChatTemplate chatml = ChatTemplate::for_model(chatml_source, tok);
    EXPECT_EQ(chatml.stop_tokens(tok), (std::vector<std::int32_t>{2, 3}));
    // for_model takes EOS from the tokenizer: Zephyr ends turns with <|endoftext|> here.
    const ChatTemplate zephyr = ChatTemplate::for_model(zephyr_source, tok);
    EXPECT_EQ(zephyr.apply(no_system, false), "<|user|>\nHello<|endoftext|>\n");
    EXPECT_EQ(zephyr.stop_tokens(tok), (std::vector<std::int32_t>{3}));
    // The rendered ChatML prompt tokenizes its markers as special tokens ("user" and the
    // newlines have no tokens in this toy vocabulary, without byte tokens or <unk>).
    const std::vector<ChatMessage> one = {{"user", "a"}};
    EXPECT_EQ(tok.encode(chatml.apply(one, false), true, true), (std::vector<std::int32_t>{1, 0, 2}));
}

}  // namespace chat_template_test
}  // namespace kvscope
