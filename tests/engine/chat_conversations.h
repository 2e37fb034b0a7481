#pragma once
// The conversations every chat template test renders, so that each family's expected strings
// (rendered by Jinja from the real template) are for the same messages.

#include <vector>

#include "engine/chat_template.h"

namespace kvscope::test {

// A system prompt, a turn and an answer, and a last user message with untrimmed whitespace.
inline const std::vector<ChatMessage> kConversation = {
    {"system", "You are terse."},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "  Who are you?\n"},
};
// Every message padded with spaces: which families strip what.
inline const std::vector<ChatMessage> kPadded = {
    {"system", " S "},
    {"user", " U1 "},
    {"assistant", "  A1  "},
    {"user", "U2"},
};
inline const std::vector<ChatMessage> kNoSystem = {{"user", "Hello"}};

}  // namespace kvscope::test
