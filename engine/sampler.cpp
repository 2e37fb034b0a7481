#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "kernels/check.h"

namespace kvscope {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();
constexpr float kLowest = std::numeric_limits<float>::lowest();
constexpr int32_t kAnyToken = std::numeric_limits<int32_t>::max();
// top-p buckets the candidates by logit into this many equal ranges.
constexpr size_t kTopPBuckets = 1024;
// top-k up to this k keeps a heap of the k largest; larger k uses nth_element.
constexpr size_t kTopKHeapMax = 1024;

// The order of "most likely first": larger logit first, ties to the lower id.
bool comes_before(float logit_a, int32_t token_a, float logit_b, int32_t token_b) {
    return logit_a > logit_b || (logit_a == logit_b && token_a < token_b);
}

// The smallest float f with f >= x, so that `logit >= f` tests `(double)logit >= x` exactly.
float smallest_float_at_least(double x) {
    float f = static_cast<float>(x);
    if (static_cast<double>(f) < x) f = std::nextafter(f, std::numeric_limits<float>::infinity());
    return f;
}

float max_logit(std::span<const float> logits) {
    float max_value = kNegInf;
    for (const float logit : logits) max_value = std::max(max_value, logit);
    KV_CHECK_MSG(std::isfinite(max_value), "the logits have no finite maximum");
    return max_value;
}

}  // namespace

int32_t argmax_token(std::span<const float> logits) {
    KV_CHECK(!logits.empty());
    // Two passes (the maximum, then its first index) run ~10x faster than one with a running
    // index: no loop-carried dependency through a compare.
    float max_value = logits[0];
    for (const float logit : logits) max_value = std::max(max_value, logit);
    const auto it = std::find(logits.begin(), logits.end(), max_value);
    return it == logits.end() ? 0 : static_cast<int32_t>(it - logits.begin());
}

double Sampler::Distribution::logprob(float logit, int32_t token) const {
    if (!keeps(logit, token)) return -std::numeric_limits<double>::infinity();
    return (static_cast<double>(logit) - max_logit) * inv_temperature - log_total;
}

void Sampler::reserve(int32_t vocab_size) {
    KV_CHECK(vocab_size > 0);
    const auto size = static_cast<size_t>(vocab_size);
    if (candidates_.size() >= size) return;
    candidates_.resize(size);
    top_k_values_.resize(size);
    selected_.resize(size);
    bucket_mass_.resize(kTopPBuckets);
    output_counts_.resize(size, 0);
    in_prompt_.resize(size, 0);
    touched_.reserve(size);
    saved_logits_.reserve(size);
}

SampleResult Sampler::sample(std::span<float> logits, const SamplingParams& params, SequenceRandom& random,
                             std::span<const int32_t> prompt_tokens, std::span<const int32_t> output_tokens) {
    reserve(static_cast<int32_t>(logits.size()));
    const bool penalised = params.has_penalties();
    if (penalised) penalise(logits, params, prompt_tokens, output_tokens, /*save_originals=*/true);

    const bool processed_logprobs = params.logprobs && logprobs_mode_ == LogprobsMode::processed;
    const bool raw_logprobs = params.logprobs && logprobs_mode_ == LogprobsMode::raw;
    SampleResult result;
    if (params.is_greedy()) {
        result.token = argmax_token(logits);
        if (processed_logprobs) fill_logprobs(logits, full_distribution(logits), *params.logprobs, result);
    } else {
        const Distribution dist = filter(logits, params);
        result.token = draw(random);
        if (processed_logprobs) fill_logprobs(logits, dist, *params.logprobs, result);
    }

    if (penalised) restore_penalised(logits);
    if (raw_logprobs) fill_logprobs(logits, full_distribution(logits), *params.logprobs, result);
    return result;
}

SampleResult Sampler::score(std::span<const float> logits, int32_t token, int32_t num_top) const {
    KV_CHECK(token >= 0 && static_cast<size_t>(token) < logits.size() && num_top >= 0 && num_top <= kMaxLogprobs);
    SampleResult result;
    result.token = token;
    fill_logprobs(logits, full_distribution(logits), num_top, result);
    return result;
}

void Sampler::apply_penalties(std::span<float> logits, const SamplingParams& params,
                              std::span<const int32_t> prompt_tokens, std::span<const int32_t> output_tokens) {
    reserve(static_cast<int32_t>(logits.size()));
    if (params.has_penalties()) penalise(logits, params, prompt_tokens, output_tokens, /*save_originals=*/false);
}

void Sampler::surviving_tokens(std::span<const float> logits, const SamplingParams& params,
                               std::vector<TokenProb>& out) {
    out.clear();
    if (params.is_greedy()) {
        out.push_back({argmax_token(logits), 1.0});
        return;
    }
    reserve(static_cast<int32_t>(logits.size()));
    filter(logits, params);
    for (size_t i = 0; i < num_candidates_; ++i) {
        out.push_back({candidates_[i].token, candidates_[i].weight / candidates_weight_});
    }
    std::sort(out.begin(), out.end(), [](const TokenProb& a, const TokenProb& b) {
        return a.prob > b.prob || (a.prob == b.prob && a.token < b.token);
    });
}

// ---- step 1: penalties ----

void Sampler::penalise(std::span<float> logits, const SamplingParams& params, std::span<const int32_t> prompt_tokens,
                       std::span<const int32_t> output_tokens, bool save_originals) {
    const auto vocab_size = static_cast<int32_t>(logits.size());
    touched_.clear();
    saved_logits_.clear();
    // Mark prompt tokens and count output tokens, listing each distinct token once.
    for (const int32_t token : prompt_tokens) {
        KV_CHECK(token >= 0 && token < vocab_size);
        if (in_prompt_[token] == 0 && output_counts_[token] == 0) touched_.push_back(token);
        in_prompt_[token] = 1;
    }
    for (const int32_t token : output_tokens) {
        KV_CHECK(token >= 0 && token < vocab_size);
        if (in_prompt_[token] == 0 && output_counts_[token] == 0) touched_.push_back(token);
        ++output_counts_[token];
    }
    // Penalise each once, then clear its marks so the scratch is all zero again.
    const double repetition = params.repetition_penalty;
    for (const int32_t token : touched_) {
        if (save_originals) saved_logits_.push_back(logits[token]);
        double logit = logits[token];
        if (repetition != 1.0) logit = logit > 0.0 ? logit / repetition : logit * repetition;
        const int32_t count = output_counts_[token];
        if (count > 0) logit -= params.frequency_penalty * count + params.presence_penalty;
        logits[token] = static_cast<float>(logit);
        in_prompt_[token] = 0;
        output_counts_[token] = 0;
    }
}

void Sampler::restore_penalised(std::span<float> logits) {
    KV_CHECK(saved_logits_.size() == touched_.size());
    for (size_t i = 0; i < touched_.size(); ++i) logits[touched_[i]] = saved_logits_[i];
}

// ---- step 3: temperature, min-p, top-k, top-p, draw ----

Sampler::Distribution Sampler::full_distribution(std::span<const float> logits) {
    Distribution dist;
    dist.max_logit = max_logit(logits);
    double total = 0.0;
    for (const float logit : logits) total += std::exp(static_cast<double>(logit) - dist.max_logit);
    dist.log_total = std::log(total);
    dist.min_logit = kLowest;
    dist.boundary_token = kAnyToken;
    return dist;
}

Sampler::Distribution Sampler::filter(std::span<const float> logits, const SamplingParams& params) {
    Distribution dist;
    dist.max_logit = max_logit(logits);
    const double temperature = params.effective_temperature();
    dist.inv_temperature = 1.0 / temperature;

    // min-p: p / p_max = exp((logit - max) / T) >= min_p  <=>  logit >= max + T * ln(min_p).
    float min_logit = kLowest;
    if (params.min_p > 0.0) {
        min_logit = std::max(min_logit, smallest_float_at_least(dist.max_logit + temperature * std::log(params.min_p)));
    }
    // top-k: everything at or above the k-th largest logit stays.
    if (params.top_k >= 1) min_logit = std::max(min_logit, kth_largest(logits, params.top_k, min_logit));
    num_candidates_ = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        if (logits[i] >= min_logit) candidates_[num_candidates_++] = {logits[i], static_cast<int32_t>(i), 0.0};
    }

    // Temperature: the weights exp((logit - max) / T); the max has weight 1.
    double total = 0.0;
    for (size_t i = 0; i < num_candidates_; ++i) {
        Candidate& c = candidates_[i];
        c.weight = std::exp((static_cast<double>(c.logit) - dist.max_logit) * dist.inv_temperature);
        total += c.weight;
    }
    dist.min_logit = min_logit;
    dist.boundary_token = kAnyToken;

    if (params.top_p < 1.0 && num_candidates_ > 1) total = keep_top_p(params.top_p, total, dist);
    candidates_weight_ = total;
    dist.log_total = std::log(total);
    return dist;
}

float Sampler::kth_largest(std::span<const float> logits, int32_t k, float min_logit) {
    const auto size = static_cast<size_t>(k);
    const auto begin = top_k_values_.begin();
    if (size <= kTopKHeapMax) {
        // Small k: one pass keeping the k largest in a min-heap; most logits fail the first compare.
        size_t num_values = 0;
        for (const float logit : logits) {
            if (!(logit >= min_logit)) continue;
            if (num_values < size) {
                top_k_values_[num_values++] = logit;
                std::push_heap(begin, begin + static_cast<std::ptrdiff_t>(num_values), std::greater<float>());
            } else if (logit > top_k_values_[0]) {
                std::pop_heap(begin, begin + static_cast<std::ptrdiff_t>(size), std::greater<float>());
                top_k_values_[size - 1] = logit;
                std::push_heap(begin, begin + static_cast<std::ptrdiff_t>(size), std::greater<float>());
            }
        }
        return num_values < size ? min_logit : top_k_values_[0];
    }
    // Large k: partial selection (nth_element) over a copy.
    size_t num_values = 0;
    for (const float logit : logits) {
        if (logit >= min_logit) top_k_values_[num_values++] = logit;
    }
    if (num_values <= size) return min_logit;
    const auto kth = begin + (k - 1);
    std::nth_element(begin, kth, begin + static_cast<std::ptrdiff_t>(num_values), std::greater<float>());
    return *kth;
}

// top-p without sorting every candidate: bucket the candidates by logit (bucket 0 holds the
// largest), find the bucket where the mass, most likely first, reaches the target, and sort only
// that bucket. The survivors stay in id order.
double Sampler::keep_top_p(double top_p, double total_weight, Distribution& dist) {
    const double target = top_p * total_weight;
    float low = candidates_[0].logit;
    for (size_t i = 1; i < num_candidates_; ++i) low = std::min(low, candidates_[i].logit);
    const double high = dist.max_logit;
    const double scale = high > low ? static_cast<double>(kTopPBuckets) / (high - low) : 0.0;
    // Monotone: a larger logit never lands in a later bucket.
    const auto bucket_of = [&](float logit) {
        return std::min(kTopPBuckets - 1, static_cast<size_t>((high - logit) * scale));
    };
    std::fill(bucket_mass_.begin(), bucket_mass_.end(), 0.0);
    for (size_t i = 0; i < num_candidates_; ++i) bucket_mass_[bucket_of(candidates_[i].logit)] += candidates_[i].weight;
    double before = 0.0;  // mass of the buckets ahead of the cut one (< target)
    size_t cut = 0;
    while (cut < kTopPBuckets - 1 && before + bucket_mass_[cut] < target) before += bucket_mass_[cut++];

    size_t num_selected = 0;
    for (size_t i = 0; i < num_candidates_; ++i) {
        if (bucket_of(candidates_[i].logit) == cut) selected_[num_selected++] = candidates_[i];
    }
    std::sort(selected_.begin(), selected_.begin() + static_cast<std::ptrdiff_t>(num_selected),
              [](const Candidate& a, const Candidate& b) { return comes_before(a.logit, a.token, b.logit, b.token); });
    // Keep each token whose preceding mass is below the target (so at least one).
    double cumulative = before;
    size_t num_kept = 0;
    while (num_kept < num_selected && cumulative < target) cumulative += selected_[num_kept++].weight;
    KV_CHECK(num_kept > 0);
    dist.min_logit = selected_[num_kept - 1].logit;
    dist.boundary_token = selected_[num_kept - 1].token;

    double kept_weight = 0.0;
    size_t kept = 0;
    for (size_t i = 0; i < num_candidates_; ++i) {
        if (!dist.keeps(candidates_[i].logit, candidates_[i].token)) continue;
        kept_weight += candidates_[i].weight;
        candidates_[kept++] = candidates_[i];
    }
    num_candidates_ = kept;
    return kept_weight;
}

int32_t Sampler::draw(SequenceRandom& random) const {
    KV_CHECK(num_candidates_ > 0);
    const double target = random.uniform01() * candidates_weight_;
    double cumulative = 0.0;
    int32_t last_positive = candidates_[0].token;
    for (size_t i = 0; i < num_candidates_; ++i) {
        const Candidate& c = candidates_[i];
        if (c.weight <= 0.0) continue;
        cumulative += c.weight;
        last_positive = c.token;
        if (cumulative > target) return c.token;
    }
    return last_positive;  // only when rounding put the target at the very end
}

// ---- logprobs ----

void Sampler::fill_logprobs(std::span<const float> logits, const Distribution& dist, int32_t num_top,
                            SampleResult& result) const {
    const float chosen = logits[result.token];
    result.logprob = static_cast<float>(dist.logprob(chosen, result.token));

    // One pass: the rank of the chosen token, and the most likely tokens by insertion into a small
    // sorted array (scanning ids upwards, an equal logit never displaces an earlier token).
    std::array<float, kMaxLogprobs> top_logits{};
    std::array<int32_t, kMaxLogprobs> top_tokens{};
    int32_t num_found = 0;
    int32_t rank = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
        const float logit = logits[i];
        const auto token = static_cast<int32_t>(i);
        if (logit >= chosen && dist.keeps(logit, token)) ++rank;
        if (num_top == 0 || (num_found == num_top && !(logit > top_logits[num_found - 1]))) continue;
        int32_t pos = num_found < num_top ? num_found++ : num_top - 1;
        while (pos > 0 && logit > top_logits[pos - 1]) {
            top_logits[pos] = top_logits[pos - 1];
            top_tokens[pos] = top_tokens[pos - 1];
            --pos;
        }
        top_logits[pos] = logit;
        top_tokens[pos] = token;
    }
    result.rank = rank;
    result.num_top_logprobs = num_found;
    for (int32_t i = 0; i < num_found; ++i) {
        result.top_logprobs[i] = {top_tokens[i], static_cast<float>(dist.logprob(top_logits[i], top_tokens[i]))};
    }
}

}  // namespace kvscope
