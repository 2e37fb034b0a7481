#pragma once
// The embedded stories260K model written again with a chat template of the test's choosing
// (`tokenizer.chat_template`), for the tests of what the CLI, the server and the workbench say
// about a model's template.

#include <string>

namespace kvscope::test {

// Writes the model to `path` (a test's temporary file) and returns `path`.
std::string write_model_with_chat_template(const std::string& path, const std::string& jinja_source);

// Real templates, as their GGUF files carry them: one kvscope renders (Mistral-7B-Instruct-v0.1's
// first template) and one it does not (Phi-3-mini's).
extern const char* const kMistralLegacyTemplate;
extern const char* const kPhi3Template;

}  // namespace kvscope::test
