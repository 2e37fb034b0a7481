#pragma once
// What the memory lab compares (allocators) and under which conditions (one budget, one serving
// loop). docs/MEMORY_LAB.md explains the model.

#include <cstdint>
#include <string>
#include <vector>

namespace kvscope::lab {

// One KV allocator to replay a trace with.
struct AllocatorSpec {
    enum class Kind {
        Paged,       // the engine's block manager (KvCacheManager): blocks on demand
        OrcaMax,     // contiguous, reserves max_model_len tokens per sample
        OrcaPow2,    // contiguous, reserves prompt + the next power of two of the output length
        OrcaOracle,  // contiguous, reserves exactly prompt + output length
    };
    Kind kind = Kind::Paged;
    std::int32_t block_size = 16;  // Paged: 8, 16 or 32
    bool prefix_caching = false;   // Paged: share full blocks of common prefixes

    // "orca-max", "orca-pow2", "orca-oracle", "paged-16", "paged-16+prefix".
    std::string name() const;
    bool is_paged() const { return kind == Kind::Paged; }
    bool operator==(const AllocatorSpec&) const = default;
};

// "max,pow2,oracle,paged,paged+prefix" (orca- prefixes optional; "paged-16" names one block
// size, plain "paged" expands to every one of `block_sizes`). Throws ConfigError naming the
// item that is not understood.
std::vector<AllocatorSpec> parse_allocators(const std::string& list, const std::vector<std::int32_t>& block_sizes);

// Orca max, pow2 and oracle, then paged at 8, 16 and 32 tokens per block without and with
// prefix caching: the paper's comparison.
std::vector<AllocatorSpec> default_allocators();

// The budget and the serving loop every allocator runs under.
struct LabConfig {
    std::int64_t budget_tokens = 0;     // KV slots (tokens) each allocator gets; > 0
    std::int64_t bytes_per_token = 0;   // K and V of all layers for one token; 0 = unknown (tokens only)
    std::int32_t max_model_len = 2048;  // context: Orca max reserves it; longer outputs are cut at it
    std::int32_t max_num_seqs = 256;    // sequences running at once
    // Tokens computed per step (decodes + prompts); the default computes every prompt whole in
    // its admission step.
    std::int32_t max_num_batched_tokens = 1 << 30;
    bool enable_chunked_prefill = true;  // prompts longer than the step budget are split over steps
    double step_time_s = 0.025;          // one step's duration: maps arrival times to steps

    // One line per problem, naming the setting. Empty when valid.
    std::vector<std::string> validate() const;
};

}  // namespace kvscope::lab
