#pragma once
// kvscope-cli perplexity --url: the perplexity of a model a server serves (kvscope's or vLLM's),
// the text cut by the server's tokenizer and scored by its prompt logprobs
// (server/perplexity_client.h), printed as the local run prints it.

#include <string>
#include <vector>

#include "app/cli/args.h"
#include "engine/perplexity.h"

namespace kvscope::cli {

// The options only --url takes (appended to perplexity's).
void append_server_perplexity_options(std::vector<OptionSpec>& options);
// Scores `text` (read from `source`) at --url; the process exit code.
int run_server_perplexity_command(const ParsedArgs& args, const PerplexityOptions& options, const std::string& text,
                                  const std::string& source);

}  // namespace kvscope::cli
