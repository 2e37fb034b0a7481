#pragma once
// A text cut into perplexity chunks by an attached server's tokenizer (its POST /tokenize, as
// server/perplexity_client.h reads it). The chunks then run as ordinary requests with prompt
// logprobs (remote_completion.h), as they do on the embedded engine.

#include <string>

#include "app/bridge/remote_http.h"
#include "ui/engine_messages.h"

namespace kvscope::app {

// Blocks for as long as the server takes (or until `client` is stopped from another thread); the
// answer carries the error (one line) when the server has no /tokenize, refuses the text or
// answers something else.
ui::PerplexityChunks remote_perplexity_chunks(httplib::Client& client, const std::string& model,
                                              const ui::PerplexityText& text);

}  // namespace kvscope::app
