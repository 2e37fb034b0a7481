#include "engine/lab/lab_config.h"

#include <cmath>
#include <sstream>

#include "engine/error.h"

namespace kvscope::lab {
namespace {

std::vector<std::string> split(const std::string& text) {
    std::vector<std::string> items;
    std::stringstream in(text);
    for (std::string item; std::getline(in, item, ',');) {
        const std::size_t a = item.find_first_not_of(' '), b = item.find_last_not_of(' ');
        if (a != std::string::npos) items.push_back(item.substr(a, b - a + 1));
    }
    return items;
}

[[noreturn]] void bad_item(const std::string& item) {
    throw ConfigError("allocator '" + item +
                      "' is not known; use max, pow2, oracle (or orca-max, ...), paged, paged+prefix, "
                      "paged-BLOCK or paged-BLOCK+prefix with BLOCK 8, 16 or 32");
}

}  // namespace

std::string AllocatorSpec::name() const {
    switch (kind) {
        case Kind::OrcaMax:
            return "orca-max";
        case Kind::OrcaPow2:
            return "orca-pow2";
        case Kind::OrcaOracle:
            return "orca-oracle";
        case Kind::Paged:
            break;
    }
    return "paged-" + std::to_string(block_size) + (prefix_caching ? "+prefix" : "");
}

std::vector<AllocatorSpec> parse_allocators(const std::string& list, const std::vector<std::int32_t>& block_sizes) {
    for (const std::int32_t b : block_sizes) {
        if (b != 8 && b != 16 && b != 32) {
            throw ConfigError("block size " + std::to_string(b) + " is not supported; use 8, 16 or 32");
        }
    }
    std::vector<AllocatorSpec> out;
    auto add = [&](const AllocatorSpec& spec) {
        for (const AllocatorSpec& s : out) {
            if (s == spec) return;
        }
        out.push_back(spec);
    };
    for (std::string item : split(list)) {
        const std::string whole = item;
        if (item.rfind("orca-", 0) == 0) item = item.substr(5);
        if (item == "max") {
            add({AllocatorSpec::Kind::OrcaMax, 0, false});
        } else if (item == "pow2") {
            add({AllocatorSpec::Kind::OrcaPow2, 0, false});
        } else if (item == "oracle") {
            add({AllocatorSpec::Kind::OrcaOracle, 0, false});
        } else if (item.rfind("paged", 0) == 0 && whole.rfind("orca-", 0) != 0) {
            std::string rest = item.substr(5);
            bool prefix = false;
            if (rest.size() >= 7 && rest.compare(rest.size() - 7, 7, "+prefix") == 0) {
                prefix = true;
                rest.resize(rest.size() - 7);
            }
            if (rest.empty()) {
                for (const std::int32_t b : block_sizes) add({AllocatorSpec::Kind::Paged, b, prefix});
            } else if (rest == "-8" || rest == "-16" || rest == "-32") {
                add({AllocatorSpec::Kind::Paged, std::stoi(rest.substr(1)), prefix});
            } else {
                bad_item(whole);
            }
        } else {
            bad_item(whole);
        }
    }
    if (out.empty()) throw ConfigError("no allocator given; list some, e.g. max,pow2,oracle,paged");
    return out;
}

std::vector<AllocatorSpec> default_allocators() {
    return parse_allocators("max,pow2,oracle,paged,paged+prefix", {8, 16, 32});
}

std::vector<std::string> LabConfig::validate() const {
    std::vector<std::string> problems;
    if (budget_tokens < 1) {
        problems.push_back("the KV budget is " + std::to_string(budget_tokens) + " tokens; give at least 1");
    }
    if (bytes_per_token < 0) problems.push_back("bytes per token must be >= 0 (0 = unknown)");
    if (max_model_len < 2) {
        problems.push_back("max_model_len " + std::to_string(max_model_len) + "; give at least 2 tokens");
    }
    if (max_num_seqs < 1) problems.push_back("max_num_seqs " + std::to_string(max_num_seqs) + "; give at least 1");
    if (max_num_batched_tokens < 1) {
        problems.push_back("max_num_batched_tokens " + std::to_string(max_num_batched_tokens) + "; give at least 1");
    }
    if (!(step_time_s > 0) || !std::isfinite(step_time_s)) {
        problems.push_back("the step time must be a positive number of seconds");
    }
    return problems;
}

}  // namespace kvscope::lab
