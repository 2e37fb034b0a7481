// Llama 3.1 / 3.2 / 3.3 chat templates: a dated system turn always comes first. Detection from the
// real source, and rendering equal to what Jinja renders from it. The expected strings were
// rendered by Python's jinja2 3.1 with transformers' settings (trim_blocks, lstrip_blocks) and a
// strftime_now that returned "27 Nov 2026", then the leading BOS removed (it is the tokenizer's).
// Llama 3.1's template has no strftime_now branch: its date is "26 Jul 2024"; here it is the 3.2
// source with that branch taken out.

#include <gtest/gtest.h>

#include <cctype>
#include <string>
#include <vector>

#include "engine/chat_template.h"
#include "tests/engine/chat_conversations.h"

namespace kvscope {
namespace chat_template_llama31_test {

// Llama-3.2-3B-Instruct's tokenizer_config.json chat_template.
const std::string llama32_source =
    "{{- bos_token }}\n"
    "{%- if custom_tools is defined %}\n"
    "    {%- set tools = custom_tools %}\n"
    "{%- endif %}\n"
    "{%- if not tools_in_user_message is defined %}\n"
    "    {%- set tools_in_user_message = true %}\n"
    "{%- endif %}\n"
    "{%- if not date_string is defined %}\n"
    "    {%- if strftime_now is defined %}\n"
    "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
    "    {%- else %}\n"
    "        {%- set date_string = \"26 Jul 2024\" %}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- if not tools is defined %}\n"
    "    {%- set tools = none %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- This block extracts the system message, so we can slot it into the right place. #}\n"
    "{%- if messages[0]['role'] == 'system' %}\n"
    "    {%- set system_message = messages[0]['content']|trim %}\n"
    "    {%- set messages = messages[1:] %}\n"
    "{%- else %}\n"
    "    {%- set system_message = \"\" %}\n"
    "{%- endif %}\n"
    "\n"
    "{#- System message #}\n"
    "{{- \"<|start_header_id|>system<|end_header_id|>\\n\\n\" }}\n"
    "{%- if tools is not none %}\n"
    "    {{- \"Environment: ipython\\n\" }}\n"
    "{%- endif %}\n"
    "{{- \"Cutting Knowledge Date: December 2023\\n\" }}\n"
    "{{- \"Today Date: \" + date_string + \"\\n\\n\" }}\n"
    "{%- if tools is not none and not tools_in_user_message %}\n"
    "    {{- \"You have access to the following functions. To call a function, please respond with JSON for a function "
    "call.\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "{%- endif %}\n"
    "{{- system_message }}\n"
    "{{- \"<|eot_id|>\" }}\n"
    "\n"
    "{#- Custom tools are passed in a user message with some extra guidance #}\n"
    "{%- if tools_in_user_message and not tools is none %}\n"
    "    {#- Extract the first user message so we can plug it in here #}\n"
    "    {%- if messages | length != 0 %}\n"
    "        {%- set first_user_message = messages[0]['content']|trim %}\n"
    "        {%- set messages = messages[1:] %}\n"
    "    {%- else %}\n"
    "        {{- raise_exception(\"Cannot put tools in the first user message when there's no first user message!\") "
    "}}\n"
    "{%- endif %}\n"
    "    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}\n"
    "    {{- \"Given the following functions, please respond with a JSON for a function call \" }}\n"
    "    {{- \"with its proper arguments that best answers the given prompt.\\n\\n\" }}\n"
    "    {{- 'Respond in the format {\"name\": function name, \"parameters\": dictionary of argument name and its "
    "value}.' }}\n"
    "    {{- \"Do not use variables.\\n\\n\" }}\n"
    "    {%- for t in tools %}\n"
    "        {{- t | tojson(indent=4) }}\n"
    "        {{- \"\\n\\n\" }}\n"
    "    {%- endfor %}\n"
    "    {{- first_user_message + \"<|eot_id|>\"}}\n"
    "{%- endif %}\n"
    "\n"
    "{%- for message in messages %}\n"
    "    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}\n"
    "        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + "
    "'<|eot_id|>' }}\n"
    "    {%- elif 'tool_calls' in message %}\n"
    "        {%- if not message.tool_calls|length == 1 %}\n"
    "            {{- raise_exception(\"This model only supports single tool-calls at once!\") }}\n"
    "        {%- endif %}\n"
    "        {%- set tool_call = message.tool_calls[0].function %}\n"
    "        {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}\n"
    "        {{- '{\"name\": \"' + tool_call.name + '\", ' }}\n"
    "        {{- '\"parameters\": ' }}\n"
    "        {{- tool_call.arguments | tojson }}\n"
    "        {{- \"}\" }}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- elif message.role == \"tool\" or message.role == \"ipython\" %}\n"
    "        {{- \"<|start_header_id|>ipython<|end_header_id|>\\n\\n\" }}\n"
    "        {%- if message.content is mapping or message.content is iterable %}\n"
    "            {{- message.content | tojson }}\n"
    "        {%- else %}\n"
    "            {{- message.content }}\n"
    "        {%- endif %}\n"
    "        {{- \"<|eot_id|>\" }}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}\n"
    "{%- endif %}\n";

std::string llama31_source() {
    std::string source = llama32_source;
    const std::string branch =
        "    {%- if strftime_now is defined %}\n"
        "        {%- set date_string = strftime_now(\"%d %b %Y\") %}\n"
        "    {%- else %}\n"
        "        {%- set date_string = \"26 Jul 2024\" %}\n"
        "    {%- endif %}\n";
    source.replace(source.find(branch), branch.size(), "    {%- set date_string = \"26 Jul 2024\" %}\n");
    return source;
}

const std::string header =
    "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: ";

const std::vector<ChatMessage>& conversation = test::kConversation;
const std::vector<ChatMessage>& padded = test::kPadded;
const std::vector<ChatMessage> late_system = {{"user", "U"}, {"system", " S2 "}, {"user", "V"}};

TEST(ChatTemplateLlama31, IsLlama3WithADatedSystemTurn) {
    const ChatTemplate t = ChatTemplate::detect(llama32_source);
    EXPECT_EQ(t.kind(), ChatTemplateKind::Llama3);
    EXPECT_EQ(t.name(), "llama3.1");
    EXPECT_EQ(t.stop_strings(), (std::vector<std::string>{"<|eot_id|>", "<|end_of_text|>"}));
    EXPECT_EQ(ChatTemplate::detect(llama31_source()).name(), "llama3.1");
}

TEST(ChatTemplateLlama31, Llama32WritesTodaysDate) {
    const ChatTemplate t = ChatTemplate::detect(llama32_source).with_today("27 Nov 2026");
    EXPECT_EQ(t.apply(conversation, true),
              header +
                  "27 Nov 2026\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|"
                  "start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_"
                  "header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(t.apply(padded, true),
              header +
                  "27 Nov 2026\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|><|start_header_"
                  "id|>assistant<|end_header_id|>\n\nA1<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU2<|eot_"
                  "id|><|start_header_id|>assistant<|end_header_id|>\n\n");
    EXPECT_EQ(t.apply(std::vector<ChatMessage>{{"user", "Hello"}}, true),
              header +
                  "27 Nov 2026\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_"
                  "id|>assistant<|end_header_id|>\n\n");
    // Only a first system message goes into the dated turn; a later one keeps its place.
    EXPECT_EQ(t.apply(late_system, true),
              header +
                  "27 Nov 2026\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU<|eot_id|><|start_header_id|"
                  ">system<|end_header_id|>\n\nS2<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nV<|eot_id|><|"
                  "start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateLlama31, TodaysDateIsWrittenAsStrftimeWritesIt) {
    // Without a date given, today's: "DD Mon YYYY" with an English month, whatever the locale.
    const std::string text = ChatTemplate::detect(llama32_source).apply(std::vector<ChatMessage>{{"user", "x"}}, false);
    const std::size_t at = text.find("Today Date: ");
    ASSERT_NE(at, std::string::npos);
    const std::string date = text.substr(at + 12, 11);
    EXPECT_TRUE(std::isdigit(static_cast<unsigned char>(date[0])) && std::isdigit(static_cast<unsigned char>(date[1])))
        << date;
    EXPECT_NE(std::string("JanFebMarAprMayJunJulAugSepOctNovDec").find(date.substr(3, 3)), std::string::npos) << date;
    EXPECT_EQ(text.substr(at + 12 + 11, 2), "\n\n");
}

TEST(ChatTemplateLlama31, Llama31WritesItsOwnDate) {
    const ChatTemplate t = ChatTemplate::detect(llama31_source());
    EXPECT_EQ(t.apply(conversation, true),
              header +
                  "26 Jul 2024\n\nYou are terse.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|"
                  "start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_"
                  "header_id|>\n\nWho are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
}

}  // namespace chat_template_llama31_test
}  // namespace kvscope
