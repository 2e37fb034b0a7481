#pragma once
// A text cut into perplexity chunks by an attached server's tokenizer (its POST /tokenize, as
// server/perplexity_client.h reads it). The chunks then run as ordinary requests with prompt
// logprobs (remote_completion.h), as they do on the embedded engine.

#include <string>

#include "app/bridge/remote_http.h"
#include "ui/engine_messages.h"

namespace kvscope::app {

// Blocks for as long as the server takes (read timeout `read_s`); the answer carries the error
// (one line) when the server has no /tokenize, refuses the text or answers something else.
ui::PerplexityChunks remote_perplexity_chunks(const RemoteEndpoint& endpoint, const std::string& model,
                                              const ui::PerplexityText& text, int read_s = 120);

}  // namespace kvscope::app
