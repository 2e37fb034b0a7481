#pragma once
// Synthetic serving workloads, as vLLM's benchmarks make them: a number of requests with prompt
// and output lengths drawn from distributions, a prefix that a fraction of every prompt shares
// with all the others (a system prompt), and arrival times of a Poisson process at a request
// rate. Used by the workbench's batch queue, `kvscope-cli bench throughput`, `bench serve` and
// the memory lab. Deterministic for a seed.

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace kvscope {

struct LengthDistribution {
    enum class Kind { Fixed, Uniform, Normal, LogNormal };
    Kind kind = Kind::Fixed;
    double a = 128;  // Fixed: the length; Uniform: low; Normal, LogNormal: mean
    double b = 0;    // Uniform: high (inclusive); Normal: standard deviation; LogNormal: sigma of ln(length)

    // "128", "uniform:32-512", "normal:256,64", "lognormal:161,1.0" (long-tailed, as chat prompt
    // and output lengths are). Throws ConfigError naming `what` on bad text.
    static LengthDistribution parse(const std::string& text, const std::string& what);
    std::string to_string() const;
    double mean() const;
};

struct WorkloadSpec {
    std::int32_t num_requests = 100;
    LengthDistribution prompt_len{LengthDistribution::Kind::Fixed, 128, 0};
    LengthDistribution output_len{LengthDistribution::Kind::Fixed, 128, 0};
    // Fraction of each prompt (of the shortest prompt's length, at most) that is a prefix common
    // to every request, [0, 1].
    double shared_prefix_fraction = 0;
    // Requests per second of the Poisson arrival process; infinity: all arrive at time 0.
    double request_rate = std::numeric_limits<double>::infinity();
    std::uint64_t seed = 0;
    // Longer prompt draws are cut to this many tokens (a front end that knows the context cuts
    // them there: a longer prompt would only be refused, and the tail of a distribution must not
    // take the memory of prompts no engine runs).
    std::int32_t max_prompt_len = 10'000'000;

    void validate() const;  // ConfigError naming the field
};

struct WorkloadRequest {
    std::int32_t index = 0;
    double arrival_s = 0;                        // seconds after the start
    std::vector<std::int32_t> prompt_token_ids;  // BOS first when the model adds one
    std::int32_t max_tokens = 0;                 // output length to generate (with ignore_eos)
};

// Prompt tokens are drawn uniformly from [first_token_id, vocab_size); `bos_id` (-1: none)
// starts every prompt and counts in its drawn length (a length of 1 is the BOS alone). Lengths
// are at least 1.
std::vector<WorkloadRequest> generate_workload(const WorkloadSpec& spec, std::int32_t vocab_size,
                                               std::int32_t first_token_id, std::int32_t bos_id);

}  // namespace kvscope
