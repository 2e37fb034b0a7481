#include "engine/kl_divergence.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

static_assert(std::endian::native == std::endian::little, "the KL base file is written in host byte order");

constexpr char kMagic[8] = {'K', 'V', 'S', 'K', 'L', 'D', '0', '1'};
constexpr std::uint64_t kKlHeaderBytes = sizeof(kMagic) + 4 * sizeof(std::uint32_t);
constexpr double kMaxCode = 65535.0;

// log-softmax of `logits`, in double.
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
    out.resize(logits.size());
    const double max = *std::max_element(logits.begin(), logits.end());
    double total = 0.0;
    for (const float l : logits) total += std::exp(static_cast<double>(l) - max);
    const double log_total = std::log(total);
    for (std::size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i]) - max - log_total;
}

std::size_t argmax(std::span<const double> values) {
    return static_cast<std::size_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

template <typename T>
void put(std::uint8_t*& at, T value) {
    std::memcpy(at, &value, sizeof(T));
    at += sizeof(T);
}

template <typename T>
T get(const std::uint8_t*& at) {
    T value;
    std::memcpy(&value, at, sizeof(T));
    at += sizeof(T);
    return value;
}

}  // namespace

std::uint64_t KlBaseLayout::rows_offset() const {
    return kKlHeaderBytes + 4ull * static_cast<std::uint64_t>(num_chunks) * static_cast<std::uint64_t>(context);
}

std::uint64_t KlBaseLayout::file_size() const {
    return rows_offset() +
           static_cast<std::uint64_t>(num_chunks) * static_cast<std::uint64_t>(rows_per_chunk()) * row_bytes();
}

std::uint64_t KlBaseLayout::row_offset(std::size_t chunk, std::int32_t entry) const {
    KV_CHECK(chunk < static_cast<std::size_t>(num_chunks) && entry >= first_entry && entry < context - 1);
    const std::uint64_t index =
        chunk * static_cast<std::uint64_t>(rows_per_chunk()) + static_cast<std::uint64_t>(entry - first_entry);
    return rows_offset() + index * row_bytes();
}

// ---- writing ----

KlBaseWriter::KlBaseWriter(std::string path, const KlBaseLayout& layout,
                           const std::vector<std::vector<std::int32_t>>& chunks)
    : file_(std::move(path)), layout_(layout) {
    KV_CHECK(layout.vocab_size > 0 && layout.num_chunks > 0 && layout.rows_per_chunk() > 0 &&
             chunks.size() == static_cast<std::size_t>(layout.num_chunks));
    std::vector<std::uint8_t> head(layout.rows_offset());
    std::uint8_t* at = head.data();
    std::memcpy(at, kMagic, sizeof(kMagic));
    at += sizeof(kMagic);
    for (const std::int32_t v : {layout.vocab_size, layout.context, layout.first_entry, layout.num_chunks}) {
        put(at, static_cast<std::uint32_t>(v));
    }
    for (const auto& chunk : chunks) {
        KV_CHECK(chunk.size() == static_cast<std::size_t>(layout.context));
        for (const std::int32_t token : chunk) put(at, token);
    }
    file_.resize(layout.file_size());
    file_.write_at(0, head);
    written_.assign(static_cast<std::size_t>(layout.num_chunks) * static_cast<std::size_t>(layout.rows_per_chunk()),
                    false);
    row_.resize(layout.row_bytes());
}

KlBaseWriter::~KlBaseWriter() = default;

void KlBaseWriter::write(std::size_t chunk, std::int32_t entry, std::span<const float> logits) {
    KV_CHECK(logits.size() == static_cast<std::size_t>(layout_.vocab_size));
    const std::uint64_t offset = layout_.row_offset(chunk, entry);
    log_softmax(logits, logprobs_);
    const auto [low, high] = std::minmax_element(logprobs_.begin(), logprobs_.end());
    const float min = static_cast<float>(*low);
    const float step = static_cast<float>((*high - min) / kMaxCode);
    std::uint8_t* at = row_.data();
    put(at, min);
    put(at, step);
    for (const double lp : logprobs_) {
        const double code = step > 0 ? std::round((lp - min) / step) : 0.0;
        put(at, static_cast<std::uint16_t>(std::clamp(code, 0.0, kMaxCode)));
    }
    file_.write_at(offset, row_);
    written_[(offset - layout_.rows_offset()) / layout_.row_bytes()] = true;
}

void KlBaseWriter::commit() {
    KV_CHECK_MSG(std::all_of(written_.begin(), written_.end(), [](bool w) { return w; }),
                 "KL base file committed before every row was written");
    file_.commit();
}

// ---- reading ----

KlBaseFile KlBaseFile::open(const std::string& path) {
    KlBaseFile f;
    f.file_ = MappedFile::open(path);
    const auto bytes = f.file_.bytes();
    const auto bad = [&](const std::string& why) {
        return FileError(path + ": not a usable KL-divergence base file (" + why +
                         "); write one with kvscope-cli perplexity --kl-divergence-base");
    };
    if (bytes.size() < kKlHeaderBytes || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
        throw bad("it does not start with " + std::string(kMagic, sizeof(kMagic)));
    }
    const std::uint8_t* at = bytes.data() + sizeof(kMagic);
    std::uint32_t fields[4];
    for (std::uint32_t& v : fields) v = get<std::uint32_t>(at);
    for (const std::uint32_t v : fields) {
        if (v > (1u << 30)) throw bad("a header field is out of range");
    }
    f.layout_ = KlBaseLayout{static_cast<std::int32_t>(fields[0]), static_cast<std::int32_t>(fields[1]),
                             static_cast<std::int32_t>(fields[2]), static_cast<std::int32_t>(fields[3])};
    const KlBaseLayout& l = f.layout_;
    if (l.vocab_size <= 0 || l.num_chunks <= 0 || l.rows_per_chunk() <= 0) throw bad("an empty layout");
    if (bytes.size() != l.file_size()) {
        throw bad(std::to_string(bytes.size()) + " bytes where its header promises " + std::to_string(l.file_size()) +
                  "; it may be truncated");
    }
    for (std::size_t i = 0; i < static_cast<std::size_t>(l.num_chunks) * static_cast<std::size_t>(l.context); ++i) {
        const auto token = get<std::int32_t>(at);
        if (token < 0 || token >= l.vocab_size) throw bad("token " + std::to_string(i) + " is outside the vocabulary");
    }
    return f;
}

std::vector<std::vector<std::int32_t>> KlBaseFile::chunks() const {
    std::vector<std::vector<std::int32_t>> out(static_cast<std::size_t>(layout_.num_chunks));
    const std::uint8_t* at = file_.data() + kKlHeaderBytes;
    for (auto& chunk : out) {
        chunk.resize(static_cast<std::size_t>(layout_.context));
        for (std::int32_t& token : chunk) token = get<std::int32_t>(at);
    }
    return out;
}

void KlBaseFile::row(std::size_t chunk, std::int32_t entry, std::vector<double>& out) const {
    const std::uint8_t* at = file_.data() + layout_.row_offset(chunk, entry);
    const auto min = static_cast<double>(get<float>(at));
    const auto step = static_cast<double>(get<float>(at));
    out.resize(static_cast<std::size_t>(layout_.vocab_size));
    for (double& lp : out) lp = min + step * get<std::uint16_t>(at);
}

// ---- comparing ----

double KlAccumulator::add(std::span<const double> base_logprobs, std::span<const float> logits, std::int32_t token) {
    KV_CHECK(base_logprobs.size() == logits.size() && token >= 0 && static_cast<std::size_t>(token) < logits.size());
    log_softmax(logits, logprobs_);
    // The stored log-probs are rounded: renormalise them before use.
    double base_total = 0.0;
    for (const double lp : base_logprobs) base_total += std::exp(lp);
    const double log_base_total = std::log(base_total);
    double kld = 0.0;
    for (std::size_t i = 0; i < logits.size(); ++i) {
        const double lp = base_logprobs[i] - log_base_total;
        kld += std::exp(lp) * (lp - logprobs_[i]);
    }
    kld = std::max(kld, 0.0);  // rounding can take a near-zero divergence below zero
    const auto t = static_cast<std::size_t>(token);
    const double base_lp = base_logprobs[t] - log_base_total;
    same_top_ += argmax(base_logprobs) == argmax(logprobs_) ? 1.0 : 0.0;
    const double delta_p = std::exp(logprobs_[t]) - std::exp(base_lp);
    delta_p_square_ += delta_p * delta_p;
    nll_base_ += -base_lp;
    nll_ += -logprobs_[t];
    const double ratio = base_lp - logprobs_[t];
    ratio_ += ratio;
    ratio_square_ += ratio * ratio;
    kld_.push_back(kld);
    return kld;
}

KlStats KlAccumulator::stats() const {
    KlStats s;
    s.num_positions = static_cast<std::int64_t>(kld_.size());
    if (kld_.empty()) return s;
    const auto n = static_cast<double>(kld_.size());
    // The standard error of a mean from its sums (0 with one value).
    const auto standard_error = [n](double sum, double square_sum) {
        const double mean = sum / n;
        const double variance = square_sum / n - mean * mean;
        return n > 1 && variance > 0 ? std::sqrt(variance / (n - 1)) : 0.0;
    };
    double sum = 0.0, square_sum = 0.0;
    for (const double k : kld_) {
        sum += k;
        square_sum += k * k;
    }
    s.kld_mean = sum / n;
    s.kld_mean_error = standard_error(sum, square_sum);
    std::vector<double> sorted = kld_;
    std::sort(sorted.begin(), sorted.end());
    s.kld_min = sorted.front();
    s.kld_max = sorted.back();
    for (const double q : {1.0, 5.0, 10.0, 50.0, 90.0, 95.0, 99.0, 99.9}) {
        // Linear interpolation between the closest ranks.
        const double rank = q / 100.0 * (n - 1);
        const auto below = static_cast<std::size_t>(std::floor(rank));
        const std::size_t above = std::min(below + 1, sorted.size() - 1);
        const double value = sorted[below] + (rank - static_cast<double>(below)) * (sorted[above] - sorted[below]);
        s.kld_percentiles.emplace_back(q, value);
    }
    s.same_top = same_top_ / n;
    s.same_top_error = n > 1 ? std::sqrt(s.same_top * (1.0 - s.same_top) / (n - 1)) : 0.0;
    s.delta_p_rms = std::sqrt(delta_p_square_ / n);
    s.ln_ppl_ratio = ratio_ / n;
    s.ln_ppl_ratio_error = standard_error(ratio_, ratio_square_);
    s.base_ppl = std::exp(nll_base_ / n);
    s.ppl = std::exp(nll_ / n);
    return s;
}

}  // namespace kvscope
