// DeepSeek-R1's chat template (its distilled Llama and Qwen2 models): detection from the real
// source, and rendering equal to what Jinja renders from it. The expected strings were rendered by
// Python's jinja2 3.1 with transformers' settings (trim_blocks, lstrip_blocks), then the leading
// BOS removed (it is the tokenizer's to add). The first release's template differs only in its
// generation prompt, which has no "<think>\n".

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "tests/engine/chat_conversations.h"

namespace kvscope {
namespace chat_template_deepseek_test {

// DeepSeek-R1-Distill-Qwen-32B's tokenizer_config.json chat_template (the later revision).
const std::string r1_source =
    "{% if not add_generation_prompt is defined -%}\n"
    "  {%- set add_generation_prompt = false -%}\n"
    "{%- endif -%}\n"
    "{%- set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='') -%}\n"
    "{%- for message in messages -%}\n"
    "  {%- if message['role'] == 'system' -%}\n"
    "    {%- set ns.system_prompt = message['content'] -%}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}{{bos_token}}{{ns.system_prompt}}\n"
    "{%- for message in messages -%}\n"
    "  {%- if message['role'] == 'user' -%}\n"
    "    {%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}\n"
    "  {%- endif -%}\n"
    "  {%- if message['role'] == 'assistant' and message['tool_calls'] -%}\n"
    "    {%- set ns.is_tool = false -%}\n"
    "    {%- for tool in message['tool_calls']-%}\n"
    "      {%- if not ns.is_first -%}\n"
    "        {{'<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
    "'<｜tool▁call▁end｜>'}}\n"
    "        {%- set ns.is_first = true -%}\n"
    "      {%- else -%}\n"
    "        {{'\\n' + '<｜tool▁call▁begin｜>' + tool['type'] + '<｜tool▁sep｜>' + tool['function']['name'] + '\\n' + "
    "'```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + '<｜tool▁call▁end｜>'}}\n"
    "      {%- endif -%}\n"
    "    {%- endfor -%}\n"
    "    {{'<｜tool▁calls▁end｜><｜end▁of▁sentence｜>'}}\n"
    "  {%- endif -%}\n"
    "  {%- if message['role'] == 'assistant' and message['content'] is not none -%}\n"
    "    {%- if ns.is_tool -%}{{'<｜tool▁outputs▁end｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}\n"
    "      {%- set ns.is_tool = false -%}\n"
    "    {%- else -%}\n"
    "      {%- set content = message['content'] -%}\n"
    "      {%- if '</think>' in content -%}\n"
    "        {%- set content = content.split('</think>')[-1] -%}\n"
    "      {%- endif -%}{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}\n"
    "    {%- endif -%}\n"
    "  {%- endif -%}\n"
    "  {%- if message['role'] == 'tool' -%}\n"
    "    {%- set ns.is_tool = true -%}\n"
    "    {%- if ns.is_output_first -%}{{'<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message['content'] + "
    "'<｜tool▁output▁end｜>'}}\n"
    "      {%- set ns.is_output_first = false -%}\n"
    "      {%- else -%}{{'\\n<｜tool▁output▁begin｜>' + message['content'] + '<｜tool▁output▁end｜>'}}\n"
    "    {%- endif -%}\n"
    "  {%- endif -%}\n"
    "{%- endfor -%}\n"
    "{%- if ns.is_tool -%}{{'<｜tool▁outputs▁end｜>'}}\n"
    "{%- endif -%}\n"
    "{%- if add_generation_prompt and not ns.is_tool -%}{{'<｜Assistant｜><think>\\n'}}\n"
    "{%- endif %}";

std::string first_release_source() {
    std::string source = r1_source;
    const std::string later = "<｜Assistant｜><think>\\n";
    source.replace(source.find(later), later.size(), "<｜Assistant｜>");
    return source;
}

const std::vector<ChatMessage>& conversation = test::kConversation;
const std::vector<ChatMessage>& padded = test::kPadded;
const std::vector<ChatMessage> thinking = {{"user", "Q1"}, {"assistant", "<think>\nhmm</think>\n\nA1"}, {"user", "Q2"}};
const std::vector<ChatMessage> two_systems = {{"system", "S1"}, {"user", "U"}, {"system", "S2"}, {"user", "V"}};

TEST(ChatTemplateDeepSeek, IsRecognisedWithItsStopString) {
    const ChatTemplate t = ChatTemplate::detect(r1_source, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>");
    EXPECT_EQ(t.kind(), ChatTemplateKind::DeepSeekR1);
    EXPECT_EQ(t.name(), "deepseek-r1");
    EXPECT_TRUE(t.recognised());
    EXPECT_EQ(t.stop_strings(), (std::vector<std::string>{"<｜end▁of▁sentence｜>"}));
    EXPECT_EQ(ChatTemplate::detect(first_release_source()).kind(), ChatTemplateKind::DeepSeekR1);
}

TEST(ChatTemplateDeepSeek, RendersAsItsTemplate) {
    const ChatTemplate t = ChatTemplate::detect(r1_source);
    EXPECT_EQ(t.apply(conversation, true),
              "You are terse.<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>  Who are "
              "you?\n<｜Assistant｜><think>\n");
    EXPECT_EQ(t.apply(conversation, false),
              "You are terse.<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>  Who are you?\n");
    EXPECT_EQ(t.apply(padded, true),
              " S <｜User｜> U1 <｜Assistant｜>  A1  <｜end▁of▁sentence｜><｜User｜>U2<｜Assistant｜><think>\n");
    EXPECT_EQ(t.apply(std::vector<ChatMessage>{{"user", "Hello"}}, true), "<｜User｜>Hello<｜Assistant｜><think>\n");
    // An earlier answer keeps only what follows its reasoning.
    EXPECT_EQ(t.apply(thinking, true),
              "<｜User｜>Q1<｜Assistant｜>\n\nA1<｜end▁of▁sentence｜><｜User｜>Q2<｜Assistant｜><think>\n");
    // The last system message leads; none is written where it stands.
    EXPECT_EQ(t.apply(two_systems, false), "S2<｜User｜>U<｜User｜>V");
}

TEST(ChatTemplateDeepSeek, TheFirstReleaseOpensNoThinkBlock) {
    const ChatTemplate t = ChatTemplate::detect(first_release_source());
    EXPECT_EQ(t.apply(conversation, true),
              "You are terse.<｜User｜>Hello<｜Assistant｜>Hi there<｜end▁of▁sentence｜><｜User｜>  Who are "
              "you?\n<｜Assistant｜>");
    EXPECT_EQ(t.apply(thinking, true),
              "<｜User｜>Q1<｜Assistant｜>\n\nA1<｜end▁of▁sentence｜><｜User｜>Q2<｜Assistant｜>");
}

}  // namespace chat_template_deepseek_test
}  // namespace kvscope
