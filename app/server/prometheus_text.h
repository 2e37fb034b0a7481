#pragma once
// A small reader of the Prometheus text exposition format, for clients of /metrics: the tests,
// `bench serve`, and the workbench's remote attach (kvscope, vLLM "vllm:*" or llama.cpp
// "llamacpp:*" servers). It reads samples with their labels, # TYPE / # HELP lines, and
// reassembles histograms from their _bucket / _sum / _count samples.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kvscope::server {

class PromParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

using PromLabels = std::map<std::string, std::string>;

struct PromSample {
    std::string name;
    PromLabels labels;
    double value = 0;
};

struct PromHistogram {
    std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), ascending, +Inf last
    double sum = 0;
    double count = 0;
};

class PromText {
public:
    // Throws PromParseError naming the line for text that is not the exposition format.
    static PromText parse(std::string_view text);

    const std::vector<PromSample>& samples() const { return samples_; }
    // "counter", "gauge", "histogram", ... from # TYPE; "" when not declared.
    std::string type(const std::string& family) const;
    std::string help(const std::string& family) const;

    // Samples named `name` whose labels include every pair of `filter`.
    std::vector<const PromSample*> find(const std::string& name, const PromLabels& filter = {}) const;
    // The first such sample's value.
    std::optional<double> value(const std::string& name, const PromLabels& filter = {}) const;
    // The sum over such samples (0 when there is none).
    double sum(const std::string& name, const PromLabels& filter = {}) const;
    // The histogram `name` (its name without _bucket), summed over matching label sets.
    std::optional<PromHistogram> histogram(const std::string& name, const PromLabels& filter = {}) const;

private:
    std::vector<PromSample> samples_;
    std::map<std::string, std::string> types_;
    std::map<std::string, std::string> helps_;
};

// "+Inf", "-Inf", "NaN" or a decimal number; nullopt if none.
std::optional<double> parse_prometheus_number(std::string_view text);

}  // namespace kvscope::server
