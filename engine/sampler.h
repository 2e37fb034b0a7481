#pragma once
// Logits of one sequence -> the next token, with vLLM v1's semantics (vllm/v1/sample/sampler.py):
//
//   1. penalties, on the logits as the model produced them:
//        repetition (tokens in prompt or output): logit > 0 ? logit / r : logit * r
//        then, for output tokens seen c times:      logit -= frequency * c + presence
//   2. temperature == 0: greedy, the argmax of the penalised logits (ties to the lowest id)
//   3. otherwise, on logits / temperature (0 < temperature < 0.01 counts as 0.01):
//        min-p  drop tokens with p < min_p * p_max
//        top-k  keep the k largest logits (and any tied with the k-th, as vLLM's mask does)
//        top-p  on what is left, most likely first (ties: lower id first), keep each token whose
//               preceding mass is < top_p * remaining mass (the smallest set reaching top_p;
//               never empty)
//        draw   one uniform01() from the sequence's own generator, inverse CDF over the survivors
//               in id order
//   vLLM v1 applies min-p before top-k/top-p (V0 applied it after); the order matters only when
//   min-p and top-p are both on, and we follow v1.
//
// Logprobs (LogprobsMode): `raw` is vLLM's default "raw_logprobs", the log-softmax of the logits as
// the model produced them, before penalties and temperature. `processed` is vLLM's
// "processed_logprobs", the log-softmax of the distribution the token was drawn from (after
// penalties, temperature and the filters; filtered tokens get -inf; greedy: after penalties).
//
// Reproducibility: the draws depend only on the logits, the params and the sequence's generator
// (engine/rng.h, bit-identical everywhere) - never on the batch. Across platforms they could differ
// only where libm's exp rounds differently in the last bit and a uniform falls within that rounding
// of a boundary (about 1e-16 per draw).
//
// A Sampler owns scratch buffers sized to the vocabulary, so sample() allocates nothing once it
// has seen a vocabulary of that size. One Sampler per thread; it keeps no state between calls.

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "engine/rng.h"
#include "engine/sampling_params.h"

namespace kvscope {

struct TokenLogprob {
    int32_t token = -1;
    float logprob = 0.0f;
};

struct TokenProb {
    int32_t token = -1;
    double prob = 0.0;
};

enum class LogprobsMode : uint8_t {
    raw,        // log-softmax of the model's logits, before penalties and temperature (vLLM default)
    processed,  // log-softmax of the distribution sampled from
};

struct SampleResult {
    int32_t token = -1;
    // Filled only when params.logprobs is set (each costs a pass over the vocabulary):
    float logprob = 0.0f;          // the chosen token's logprob
    int32_t rank = 0;              // tokens whose logprob is >= the chosen one's (1 = the most likely; vLLM's rank)
    int32_t num_top_logprobs = 0;  // = *params.logprobs
    std::array<TokenLogprob, kMaxLogprobs> top_logprobs{};  // most likely first, ties: lower id first

    std::span<const TokenLogprob> top() const { return {top_logprobs.data(), static_cast<size_t>(num_top_logprobs)}; }
};

class Sampler {
public:
    explicit Sampler(LogprobsMode logprobs_mode = LogprobsMode::raw) : logprobs_mode_(logprobs_mode) {}

    // Sizes the scratch buffers for a vocabulary, so that the first sample() does not allocate.
    void reserve(int32_t vocab_size);

    // logits: (vocab_size) of one sequence; penalties are applied in place during the call and
    // undone before it returns. params must have passed validate(vocab_size). Token ids in
    // prompt_tokens and output_tokens must be in [0, vocab_size).
    SampleResult sample(std::span<float> logits, const SamplingParams& params, SequenceRandom& random,
                        std::span<const int32_t> prompt_tokens, std::span<const int32_t> output_tokens);

    // How likely `logits` (as the model produced them) found `token`: its raw logprob and rank, and
    // the `num_top` most likely tokens ([0, kMaxLogprobs]). For prompt logprobs; allocates nothing.
    SampleResult score(std::span<const float> logits, int32_t token, int32_t num_top) const;

    // Step 1 alone, left applied: for inspection and tests.
    void apply_penalties(std::span<float> logits, const SamplingParams& params, std::span<const int32_t> prompt_tokens,
                         std::span<const int32_t> output_tokens);

    // The distribution sample() draws from for already-penalised `logits`: the surviving tokens and
    // their renormalised probabilities, most likely first (ties: lower id first). Greedy: the argmax
    // with probability 1. For the workbench's views and for tests; `out` is overwritten.
    void surviving_tokens(std::span<const float> logits, const SamplingParams& params, std::vector<TokenProb>& out);

private:
    struct Candidate {
        float logit;
        int32_t token;
        double weight;  // exp((logit - max_logit) / temperature)
    };
    // A distribution over the vocabulary: which tokens it keeps and the log-probability of each.
    struct Distribution {
        float max_logit = 0.0f;
        double inv_temperature = 1.0;
        double log_total = 0.0;  // log of the kept tokens' summed weights
        // Kept: logit > min_logit, or logit == min_logit and token <= boundary_token.
        float min_logit = 0.0f;
        int32_t boundary_token = 0;

        bool keeps(float logit, int32_t token) const {
            return logit > min_logit || (logit == min_logit && token <= boundary_token);
        }
        double logprob(float logit, int32_t token) const;  // -inf when not kept
    };

    // Penalties in place; with save_originals, records each changed logit for restore_penalised().
    void penalise(std::span<float> logits, const SamplingParams& params, std::span<const int32_t> prompt_tokens,
                  std::span<const int32_t> output_tokens, bool save_originals);
    void restore_penalised(std::span<float> logits);

    // Every token with a finite logit, at temperature 1.
    static Distribution full_distribution(std::span<const float> logits);
    // min-p, top-k, top-p: leaves the survivors, in draw order, in candidates_[0, num_candidates_).
    Distribution filter(std::span<const float> logits, const SamplingParams& params);
    // The k-th largest of the logits >= min_logit (min_logit if there are at most k of them).
    float kth_largest(std::span<const float> logits, int32_t k, float min_logit);
    // Sets dist's boundary; returns the kept weight.
    double keep_top_p(double top_p, double total_weight, Distribution& dist);
    int32_t draw(SequenceRandom& random) const;

    // The chosen token's logprob and rank under `dist`, and its `num_top` most likely tokens.
    void fill_logprobs(std::span<const float> logits, const Distribution& dist, int32_t num_top,
                       SampleResult& result) const;

    LogprobsMode logprobs_mode_;
    std::vector<Candidate> candidates_;  // (vocab_size) survivors of the filters
    size_t num_candidates_ = 0;
    double candidates_weight_ = 0.0;      // their summed weights, in draw order
    std::vector<float> top_k_values_;     // (vocab_size) scratch for the k-th largest logit
    std::vector<Candidate> selected_;     // (vocab_size) scratch: the top-p cut bucket
    std::vector<double> bucket_mass_;     // (1024) top-p: mass per logit bucket
    std::vector<int32_t> output_counts_;  // (vocab_size) all zero between calls
    std::vector<uint8_t> in_prompt_;      // (vocab_size) all zero between calls
    std::vector<int32_t> touched_;        // distinct tokens of prompt and output, this call
    std::vector<float> saved_logits_;     // (touched_) logits before penalties
};

// The argmax of `logits`, ties to the lowest id (as torch.argmax).
int32_t argmax_token(std::span<const float> logits);

}  // namespace kvscope
