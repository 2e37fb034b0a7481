#include "app/cli/args.h"

#include <charconv>
#include <cmath>
#include <iostream>
#include <sstream>

#include "engine/shortest_text.h"

namespace kvscope::cli {
namespace {

// A bound as typed: the shortest form that reads back the same (16777216, not 1.67772e+07;
// 1e-09), the extremes of int64 as "(no limit)".
std::string bound_text(double v) {
    if (std::abs(v) >= 9e18 && !std::isinf(v)) return v > 0 ? "(no limit)" : "(no lower limit)";
    return shortest_text(v);
}

std::string range_text(double min, double max) {
    return "from " + bound_text(min) + " to " + bound_text(max);
}

}  // namespace

std::optional<std::string> ParsedArgs::string(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> ParsedArgs::strings(const std::string& name) const {
    auto it = values_.find(name);
    return it == values_.end() ? std::vector<std::string>{} : it->second;
}

std::optional<std::int64_t> ParsedArgs::optional_integer(const std::string& name, std::int64_t min,
                                                         std::int64_t max) const {
    const std::optional<std::string> text = string(name);
    if (!text) return std::nullopt;
    std::int64_t value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    if (ec != std::errc() || ptr != end || value < min || value > max) {
        throw UsageError("--" + name + ": expected an integer " + range_text(double(min), double(max)) + ", got '" +
                         *text + "'");
    }
    return value;
}

std::int64_t ParsedArgs::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                                 std::int64_t max) const {
    return optional_integer(name, min, max).value_or(fallback);
}

double ParsedArgs::number(const std::string& name, double fallback, double min, double max) const {
    const std::optional<std::string> text = string(name);
    if (!text) return fallback;
    double value = 0;
    const char* end = text->data() + text->size();
    auto [ptr, ec] = std::from_chars(text->data(), end, value);
    const bool infinite_allowed = std::isinf(value) && value > 0 && std::isinf(max);  // "inf": unbounded
    if (ec != std::errc() || ptr != end || (!std::isfinite(value) && !infinite_allowed) || value < min || value > max) {
        throw UsageError("--" + name + ": expected a number " + range_text(min, max) + ", got '" + *text + "'");
    }
    return value;
}

bool ParsedArgs::toggle(const std::string& name, bool fallback) const {
    auto on = last_index_.find(name);
    auto off = last_index_.find("no-" + name);
    if (on == last_index_.end() && off == last_index_.end()) return fallback;
    if (off == last_index_.end()) return true;
    if (on == last_index_.end()) return false;
    return on->second > off->second;
}

ArgParser::ArgParser(std::string command, std::string summary, std::vector<OptionSpec> options)
    : command_(std::move(command)), summary_(std::move(summary)), options_(std::move(options)) {}

const OptionSpec* ArgParser::find(const std::string& name) const {
    for (const OptionSpec& o : options_) {
        if (o.name == name) return &o;
    }
    return nullptr;
}

ParsedArgs ArgParser::parse(const std::vector<std::string>& argv) const {
    ParsedArgs out;
    for (size_t i = 0; i < argv.size(); ++i) {
        const std::string& arg = argv[i];
        if (arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
            throw UsageError("unexpected argument '" + arg + "'; options start with -- (see kvscope-cli " + command_ +
                             " --help)");
        }
        std::string name = arg.substr(2);
        std::optional<std::string> value;
        if (const size_t eq = name.find('='); eq != std::string::npos) {
            value = name.substr(eq + 1);
            name.resize(eq);
        }
        const OptionSpec* spec = find(name);
        if (spec == nullptr) {
            throw UsageError("unknown option --" + name + " for '" + command_ + "' (see kvscope-cli " + command_ +
                             " --help)");
        }
        if (spec->value_name.empty()) {
            if (value) throw UsageError("--" + name + " takes no value");
            out.values_[name].push_back("");
        } else {
            if (!value) {
                if (i + 1 >= argv.size()) throw UsageError("--" + name + " needs a value (" + spec->value_name + ")");
                value = argv[++i];
            }
            auto& values = out.values_[name];
            if (!values.empty() && !spec->repeatable) throw UsageError("--" + name + " was given more than once");
            values.push_back(*value);
        }
        out.last_index_[name] = static_cast<int>(i);
    }
    return out;
}

bool ArgParser::wants_help(const std::vector<std::string>& argv) {
    for (const std::string& a : argv) {
        if (a == "--help" || a == "-h") return true;
    }
    return false;
}

std::optional<ParsedArgs> ArgParser::parse_or_help(const std::vector<std::string>& argv) const {
    if (wants_help(argv)) {
        std::cout << help();
        return std::nullopt;
    }
    return parse(argv);
}

std::string ArgParser::help() const {
    std::ostringstream s;
    s << "usage: kvscope-cli " << command_ << " [options]\n\n" << summary_ << "\n\noptions:\n";
    for (const OptionSpec& o : options_) {
        std::string left = "  --" + o.name + (o.value_name.empty() ? "" : " " + o.value_name);
        if (left.size() < 30)
            left.resize(30, ' ');
        else
            left += "\n" + std::string(30, ' ');
        s << left << o.help << (o.repeatable ? " (repeatable)" : "") << "\n";
    }
    return s.str();
}

}  // namespace kvscope::cli
