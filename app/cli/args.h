#pragma once
// Command-line options of kvscope-cli subcommands: declared once (name, value, help), parsed
// strictly (unknown options, missing values and bad numbers are UsageErrors naming the option),
// and rendered as --help text.

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace kvscope::cli {

class UsageError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct OptionSpec {
    std::string name;        // without the leading "--"
    std::string value_name;  // empty: a switch that takes no value
    std::string help;
    bool repeatable = false;
};

class ParsedArgs {
public:
    bool has(const std::string& name) const { return values_.count(name) > 0; }
    std::optional<std::string> string(const std::string& name) const;
    std::vector<std::string> strings(const std::string& name) const;  // every occurrence, in order
    std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
    std::optional<std::int64_t> optional_integer(const std::string& name, std::int64_t min, std::int64_t max) const;
    double number(const std::string& name, double fallback, double min, double max) const;
    // A pair of switches --name / --no-name; the last one given wins.
    bool toggle(const std::string& name, bool fallback) const;

private:
    friend class ArgParser;
    std::map<std::string, std::vector<std::string>> values_;
    std::map<std::string, int> last_index_;  // for toggles: position of the last occurrence
};

class ArgParser {
public:
    ArgParser(std::string command, std::string summary, std::vector<OptionSpec> options);
    // argv excludes the program and the subcommand. Throws UsageError.
    ParsedArgs parse(const std::vector<std::string>& argv) const;
    std::string help() const;
    // True when argv asks for --help / -h (checked before parsing, so other errors don't mask it).
    static bool wants_help(const std::vector<std::string>& argv);
    // parse(), except that for --help / -h it prints help() to stdout and returns nothing (the
    // command then exits 0).
    std::optional<ParsedArgs> parse_or_help(const std::vector<std::string>& argv) const;

private:
    const OptionSpec* find(const std::string& name) const;

    std::string command_;
    std::string summary_;
    std::vector<OptionSpec> options_;
};

}  // namespace kvscope::cli
