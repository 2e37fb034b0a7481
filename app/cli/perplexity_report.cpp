#include "app/cli/perplexity_report.h"

namespace kvscope::cli {

nlohmann::json perplexity_result_json(const PerplexityOptions& options, std::size_t text_tokens, std::size_t num_chunks,
                                      const PerplexityEstimate& e, double seconds) {
    const double tokens_per_second = seconds > 0 ? static_cast<double>(num_chunks) * options.context / seconds : 0;
    return {{"context", options.context},
            {"score", options.score_all ? "all" : "second-half"},
            {"text_tokens", text_tokens},
            {"num_chunks", num_chunks},
            {"scored_tokens", e.num_scored},
            {"nll_mean", e.nll_mean},
            {"ppl", e.ppl},
            {"ppl_error", e.ppl_error},
            {"seconds", seconds},
            {"tokens_per_second", tokens_per_second}};
}

}  // namespace kvscope::cli
