// Mistral AI's chat templates: detection of each family from its real template source, and
// rendering equal to what Jinja renders from that source. The expected strings were rendered by
// Python's jinja2 3.1 with transformers' settings (trim_blocks, lstrip_blocks), bos_token "<s>"
// and eos_token "</s>", then the leading "<s>" removed (BOS is the tokenizer's to add). The v3 and
// tekken sources are abridged: their tool-call branches, which render nothing without tools, are
// left out.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "tests/engine/chat_conversations.h"

namespace kvscope {
namespace chat_template_mistral_test {

// Mistral-7B-Instruct-v0.1/v0.2, first template (no system prompt)
const std::string legacy_source =
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
    "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
    "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
    "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are "
    "supported!') }}{% endif %}{% endfor %}";
// Mistral-7B-Instruct-v0.2, "v1" (with a system prompt)
const std::string v1_source =
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content'] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}\n"
    "        {{- raise_exception('After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...') }}\n"
    "    {%- endif %}\n"
    "    {%- if message['role'] == 'user' %}\n"
    "        {%- if loop.first and system_message is defined %}\n"
    "            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}\n"
    "        {%- else %}\n"
    "            {{- ' [INST] ' + message['content'] + ' [/INST]' }}\n"
    "        {%- endif %}\n"
    "    {%- elif message['role'] == 'assistant' %}\n"
    "        {{- ' ' + message['content'] + eos_token}}\n"
    "    {%- else %}\n"
    "        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial "
    "optional system message!') }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";
// Mistral-7B-Instruct-v0.3 / Mistral-Large-2407, "v3" (abridged)
const std::string v3_source =
    "{%- if messages[0][\"role\"] == \"system\" %}\n"
    "    {%- set system_message = messages[0][\"content\"] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace() %}\n"
    "{%- set ns.index = 0 %}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined "
    "and message.tool_calls is not none)) %}\n"
    "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
    "            {{- raise_exception(\"After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...\") }}\n"
    "        {%- endif %}\n"
    "        {%- set ns.index = ns.index + 1 %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- \"[INST] \" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- else %}\n"
    "            {{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- \" \" + message[\"content\"]|trim + eos_token}}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial "
    "optional system message!\") }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";
// Mistral-Nemo-Instruct-2407, "v3-tekken" (abridged)
const std::string tekken_source =
    "{%- if messages[0][\"role\"] == \"system\" %}\n"
    "    {%- set system_message = messages[0][\"content\"] %}\n"
    "    {%- set loop_messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set loop_messages = messages %}\n"
    "{%- endif %}\n"
    "{%- set ns = namespace() %}\n"
    "{%- set ns.index = 0 %}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if not (message.role == \"tool\" or message.role == \"tool_results\" or (message.tool_calls is defined "
    "and message.tool_calls is not none)) %}\n"
    "        {%- if (message[\"role\"] == \"user\") != (ns.index % 2 == 0) %}\n"
    "            {{- raise_exception(\"After the optional system message, conversation roles must alternate "
    "user/assistant/user/assistant/...\") }}\n"
    "        {%- endif %}\n"
    "        {%- set ns.index = ns.index + 1 %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "\n"
    "{{- bos_token }}\n"
    "{%- for message in loop_messages %}\n"
    "    {%- if message[\"role\"] == \"user\" %}\n"
    "        {%- if loop.last and system_message is defined %}\n"
    "            {{- \"[INST]\" + system_message + \"\\n\\n\" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- else %}\n"
    "            {{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}\n"
    "        {%- endif %}\n"
    "    {%- elif message[\"role\"] == \"assistant\" %}\n"
    "        {{- message[\"content\"] + eos_token}}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Only user and assistant roles are supported, with the exception of an initial "
    "optional system message!\") }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n";
// Mistral-Large-Instruct-2411, "v7"
const std::string v7_source =
    "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + "
    "'[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' "
    "}}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}{% else %}{{ "
    "raise_exception('Only user, system and assistant roles are supported!') }}{% endif %}{% endfor %}";
// Mistral Small 3 (abridged): [SYSTEM_PROMPT] with no space, and a default system prompt that
// holds today's date. Not recognised.
const std::string small3_source =
    "{%- set today = strftime_now(\"%Y-%m-%d\") %}\n"
    "{{- bos_token }}\n"
    "{{- '[SYSTEM_PROMPT]' + system_message + '[/SYSTEM_PROMPT]' }}\n"
    "        {{- '[INST]' + message['content'] + '[/INST]' }}\n";

const std::vector<ChatMessage>& conversation = test::kConversation;
const std::vector<ChatMessage>& padded = test::kPadded;
const std::vector<ChatMessage>& no_system = test::kNoSystem;
const std::vector<ChatMessage> two_turns = {
    {"user", "Hello"}, {"assistant", "  Hi there "}, {"user", "  Who are you?\n"}};
const std::vector<ChatMessage> ends_with_answer = {{"system", "S"}, {"user", "U1"}, {"assistant", "A1"}};

TEST(ChatTemplateMistral, EachFamilyIsToldApartByItsLiterals) {
    EXPECT_EQ(ChatTemplate::detect(legacy_source).kind(), ChatTemplateKind::MistralLegacy);
    EXPECT_EQ(ChatTemplate::detect(v1_source).kind(), ChatTemplateKind::MistralV1);
    EXPECT_EQ(ChatTemplate::detect(v3_source).kind(), ChatTemplateKind::MistralV3);
    EXPECT_EQ(ChatTemplate::detect(tekken_source).kind(), ChatTemplateKind::MistralV3Tekken);
    EXPECT_EQ(ChatTemplate::detect(v7_source).kind(), ChatTemplateKind::MistralV7);
    EXPECT_EQ(ChatTemplate::detect(legacy_source).name(), "mistral-legacy");
    EXPECT_EQ(ChatTemplate::detect(v1_source).name(), "mistral-v1");
    EXPECT_EQ(ChatTemplate::detect(v3_source).name(), "mistral-v3");
    EXPECT_EQ(ChatTemplate::detect(tekken_source).name(), "mistral-v3-tekken");
    EXPECT_EQ(ChatTemplate::detect(v7_source).name(), "mistral-v7");
    for (const std::string* source : {&legacy_source, &v1_source, &v3_source, &tekken_source, &v7_source}) {
        EXPECT_TRUE(ChatTemplate::detect(*source).recognised());
        EXPECT_EQ(ChatTemplate::detect(*source).stop_strings(), (std::vector<std::string>{"</s>"}));
    }
    const ChatTemplate small3 = ChatTemplate::detect(small3_source);
    EXPECT_FALSE(small3.recognised());
    EXPECT_EQ(small3.kind(), ChatTemplateKind::Plain);
    EXPECT_EQ(small3.name(), "unrecognised");
    // [INST] in a template of no known spacing is not guessed at.
    EXPECT_FALSE(ChatTemplate::detect("{{ '[INST]  ' + message['content'] }}").recognised());
}

TEST(ChatTemplateMistral, V1PutsTheSystemPromptInTheFirstTurn) {
    const ChatTemplate t = ChatTemplate::detect(v1_source);
    EXPECT_EQ(t.apply(conversation, true),
              " [INST] You are terse.\n\nHello [/INST] Hi there</s> [INST]   Who are you?\n [/INST]");
    EXPECT_EQ(t.apply(padded, true), " [INST]  S \n\n U1  [/INST]   A1  </s> [INST] U2 [/INST]");
    EXPECT_EQ(t.apply(no_system, true), " [INST] Hello [/INST]");
    EXPECT_EQ(t.apply(two_turns, true), " [INST] Hello [/INST]   Hi there </s> [INST]   Who are you?\n [/INST]");
    EXPECT_EQ(t.apply(ends_with_answer, true), " [INST] S\n\nU1 [/INST] A1</s>");
}

TEST(ChatTemplateMistral, V3PutsTheSystemPromptInTheLastTurnAndStripsAnswers) {
    const ChatTemplate t = ChatTemplate::detect(v3_source);
    EXPECT_EQ(t.apply(conversation, true),
              "[INST] Hello[/INST] Hi there</s>[INST] You are terse.\n\n  Who are you?\n[/INST]");
    EXPECT_EQ(t.apply(padded, true), "[INST]  U1 [/INST] A1</s>[INST]  S \n\nU2[/INST]");
    EXPECT_EQ(t.apply(no_system, true), "[INST] Hello[/INST]");
    EXPECT_EQ(t.apply(two_turns, true), "[INST] Hello[/INST] Hi there</s>[INST]   Who are you?\n[/INST]");
    // The system prompt has no place when the last message is an answer, as in the template.
    EXPECT_EQ(t.apply(ends_with_answer, true), "[INST] U1[/INST] A1</s>");
}

TEST(ChatTemplateMistral, TekkenHasNoSpacesAroundItsTurns) {
    const ChatTemplate t = ChatTemplate::detect(tekken_source);
    EXPECT_EQ(t.apply(conversation, true),
              "[INST]Hello[/INST]Hi there</s>[INST]You are terse.\n\n  Who are you?\n[/INST]");
    EXPECT_EQ(t.apply(padded, true), "[INST] U1 [/INST]  A1  </s>[INST] S \n\nU2[/INST]");
    EXPECT_EQ(t.apply(no_system, true), "[INST]Hello[/INST]");
    EXPECT_EQ(t.apply(two_turns, true), "[INST]Hello[/INST]  Hi there </s>[INST]  Who are you?\n[/INST]");
    EXPECT_EQ(t.apply(ends_with_answer, true), "[INST]U1[/INST]A1</s>");
}

TEST(ChatTemplateMistral, V7WritesTheSystemPromptWhereItStands) {
    const ChatTemplate t = ChatTemplate::detect(v7_source);
    EXPECT_EQ(
        t.apply(conversation, true),
        "[SYSTEM_PROMPT] You are terse.[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST]   Who are you?\n[/INST]");
    EXPECT_EQ(t.apply(padded, true),
              "[SYSTEM_PROMPT]  S [/SYSTEM_PROMPT][INST]  U1 [/INST]   A1  </s>[INST] U2[/INST]");
    EXPECT_EQ(t.apply(no_system, true), "[INST] Hello[/INST]");
    EXPECT_EQ(t.apply(two_turns, true), "[INST] Hello[/INST]   Hi there </s>[INST]   Who are you?\n[/INST]");
    EXPECT_EQ(t.apply(ends_with_answer, true), "[SYSTEM_PROMPT] S[/SYSTEM_PROMPT][INST] U1[/INST] A1</s>");
}

TEST(ChatTemplateMistral, LegacyRendersWhatItsTemplateAccepts) {
    const ChatTemplate t = ChatTemplate::detect(legacy_source);
    EXPECT_EQ(t.apply(no_system, true), "[INST] Hello [/INST]");
    EXPECT_EQ(t.apply(two_turns, true), "[INST] Hello [/INST]  Hi there </s>[INST]   Who are you?\n [/INST]");
    // The template refuses a system message; it goes in front of the first turn, as in v1.
    EXPECT_EQ(t.apply(conversation, true),
              "[INST] You are terse.\n\nHello [/INST]Hi there</s>[INST]   Who are you?\n [/INST]");
}

TEST(ChatTemplateMistral, OtherRolesAreSkippedAndTheModelsEosEndsAnswers) {
    const ChatTemplate t = ChatTemplate::detect(v3_source, "<s>", "<|eos|>");
    EXPECT_EQ(t.apply(std::vector<ChatMessage>{{"user", "u"}, {"tool", "x"}, {"assistant", "a"}, {"user", "v"}}, true),
              "[INST] u[/INST] a<|eos|>[INST] v[/INST]");
    EXPECT_EQ(t.stop_strings(), (std::vector<std::string>{"<|eos|>"}));
    EXPECT_EQ(t.apply({}, true), "");
}

}  // namespace chat_template_mistral_test
}  // namespace kvscope
