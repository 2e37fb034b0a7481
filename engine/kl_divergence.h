#pragma once
// KL divergence of a model's token distributions from a base model's, over perplexity chunks, as
// llama-perplexity's --kl-divergence-base / --kl-divergence measure quantisation: a base run
// stores every scored position's log-probabilities in a file; a later run (another weight type,
// cache dtype, or file of the same vocabulary) scores the same chunks and compares, position by
// position:
//   KLD(base || model) = sum_i p_i (log p_i - log q_i)
//   same top: the two argmaxes agree;  delta p = q(token) - p(token) for the text's next token;
//   ln(PPL(model) / PPL(base)) = mean of (nll_model - nll_base).
//
// The file ("KVSKLD01", little-endian): u32 vocab, context, first scored entry, chunks; the
// chunks' tokens (i32, chunks x context); then per chunk, per scored entry, the log-probs as
// f32 min, f32 step and u16 codes (log p = min + step * code), 2 bytes a token. Written at
// computed offsets in a temporary file as rows arrive, renamed into place when complete.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/mapped_file.h"

namespace kvscope {

struct KlBaseLayout {
    std::int32_t vocab_size = 0;
    std::int32_t context = 0;
    std::int32_t first_entry = 0;  // entries [first_entry, context - 1) of each chunk are stored
    std::int32_t num_chunks = 0;

    std::int32_t rows_per_chunk() const { return context - 1 - first_entry; }
    std::uint64_t row_bytes() const { return 8 + 2 * static_cast<std::uint64_t>(vocab_size); }
    std::uint64_t rows_offset() const;
    std::uint64_t file_size() const;
    // Where entry `entry` of chunk `chunk` is stored (the entry must be one of those stored).
    std::uint64_t row_offset(std::size_t chunk, std::int32_t entry) const;
};

class KlBaseWriter {
public:
    // Creates the temporary file beside `path`. Throws FileError.
    KlBaseWriter(std::string path, const KlBaseLayout& layout, const std::vector<std::vector<std::int32_t>>& chunks);
    ~KlBaseWriter();  // without commit(): the temporary file is removed
    KlBaseWriter(const KlBaseWriter&) = delete;
    KlBaseWriter& operator=(const KlBaseWriter&) = delete;

    // Stores entry `entry` of chunk `chunk` from its logits. Allocates nothing after the first.
    void write(std::size_t chunk, std::int32_t entry, std::span<const float> logits);
    // Checks every row was written, flushes and renames the file into place. Throws FileError.
    void commit();

private:
    AtomicFile file_;
    KlBaseLayout layout_;
    std::vector<bool> written_;
    std::vector<double> logprobs_;
    std::vector<std::uint8_t> row_;
};

class KlBaseFile {
public:
    // Maps and validates the file. Throws FileError (not such a file, truncated, inconsistent).
    static KlBaseFile open(const std::string& path);

    const KlBaseLayout& layout() const { return layout_; }
    std::vector<std::vector<std::int32_t>> chunks() const;
    // The stored log-probs of entry `entry` of chunk `chunk`, decoded into `out` (vocab_size).
    void row(std::size_t chunk, std::int32_t entry, std::vector<double>& out) const;

private:
    MappedFile file_;
    KlBaseLayout layout_;
};

struct KlStats {
    std::int64_t num_positions = 0;
    double kld_mean = 0, kld_mean_error = 0;
    double kld_min = 0, kld_max = 0;
    // KLD percentiles: 1, 5, 10, 50 (median), 90, 95, 99, 99.9
    std::vector<std::pair<double, double>> kld_percentiles;
    double same_top = 0, same_top_error = 0;  // fraction of positions whose argmaxes agree
    double delta_p_rms = 0;                   // RMS of q(token) - p(token)
    double ln_ppl_ratio = 0, ln_ppl_ratio_error = 0;
    double base_ppl = 0, ppl = 0;
};

// Compares distributions position by position and summarises them.
class KlAccumulator {
public:
    // `base_logprobs`: the base's log-probs (vocab); `logits`: the model's; `token`: the text's
    // next token. Returns this position's KLD.
    double add(std::span<const double> base_logprobs, std::span<const float> logits, std::int32_t token);
    KlStats stats() const;

private:
    std::vector<double> kld_;
    double same_top_ = 0, delta_p_square_ = 0, nll_base_ = 0, nll_ = 0, ratio_ = 0, ratio_square_ = 0;
    std::vector<double> logprobs_;
};

}  // namespace kvscope
