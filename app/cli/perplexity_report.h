#pragma once
// What `kvscope-cli perplexity --json` prints of a run, whichever engine scored it (the local
// paged engine or a server): the fields both share.

#include <cstddef>
#include <nlohmann/json.hpp>

#include "engine/perplexity.h"

namespace kvscope::cli {

// context, score, text_tokens, num_chunks, scored_tokens, nll_mean, ppl, ppl_error, seconds,
// tokens_per_second (context tokens of every chunk over the seconds).
nlohmann::json perplexity_result_json(const PerplexityOptions& options, std::size_t text_tokens, std::size_t num_chunks,
                                      const PerplexityEstimate& estimate, double seconds);

}  // namespace kvscope::cli
