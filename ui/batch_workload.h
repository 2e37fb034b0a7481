#pragma once
// What a batch run sends: requests with arrival times, from a JSONL prompts file (one
// {"prompt": ...} object per line, with optional sampling fields, as `kvscope-cli generate
// --prompts` reads them) or from a synthetic workload (engine/workload.h).

#include <QString>
#include <vector>

#include "engine/request.h"
#include "engine/workload.h"

namespace kvscope::ui {

struct BatchItem {
    double arrivalS = 0;  // seconds after the run starts
    Request request;
};

// Throws FileError ("path:line: what is wrong") for a file that cannot be read or a bad line.
// Lines may set max_tokens, temperature, top_p, top_k, seed and n, and "lora" (an adapter's
// name); `defaults` fills the rest.
// Every prompt arrives at time 0.
std::vector<BatchItem> readPromptsFile(const QString& path, const SamplingParams& defaults);

// The workload's prompts as token ids (BOS first when the model adds one), each with
// ignore_eos and its drawn output length, sampled at `temperature` with a seed per request.
// Throws ConfigError for an invalid spec.
std::vector<BatchItem> syntheticBatch(const WorkloadSpec& spec, std::int32_t vocabSize, std::int32_t firstTokenId,
                                      std::int32_t bosId, double temperature);

// The same workload as text, for a server whose vocabulary is unknown (vLLM, llama.cpp): each
// drawn token becomes one of kTextWords common English words, which most tokenizers encode as
// one token each, so prompt lengths are about what the spec asks (shared prefixes stay exact).
std::vector<BatchItem> syntheticTextBatch(const WorkloadSpec& spec, double temperature);
inline constexpr std::int32_t kTextWords = 64;

}  // namespace kvscope::ui
