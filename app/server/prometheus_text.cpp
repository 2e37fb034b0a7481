#include "app/server/prometheus_text.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace kvscope::server {
namespace {

bool is_name_start(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
}
bool is_name_char(char c) {
    return is_name_start(c) || (c >= '0' && c <= '9');
}

class LineReader {
public:
    LineReader(std::string_view line, std::size_t number) : line_(line), number_(number) {}

    PromSample sample() {
        PromSample s;
        s.name = name();
        if (peek() == '{') s.labels = labels();
        skip_spaces();
        const std::size_t start = pos_;
        while (pos_ < line_.size() && line_[pos_] != ' ' && line_[pos_] != '\t') ++pos_;
        const std::optional<double> v = parse_prometheus_number(line_.substr(start, pos_ - start));
        if (!v) fail("a sample value");
        s.value = *v;
        skip_spaces();
        // An optional integer timestamp (milliseconds).
        if (pos_ < line_.size()) {
            std::int64_t ts = 0;
            const char* end = line_.data() + line_.size();
            const auto [p, ec] = std::from_chars(line_.data() + pos_, end, ts);
            if (ec != std::errc() || p != end) fail("the end of the line");
            pos_ = line_.size();
        }
        return s;
    }

    std::string name() {
        const std::size_t start = pos_;
        if (pos_ >= line_.size() || !is_name_start(line_[pos_])) fail("a metric name");
        while (pos_ < line_.size() && is_name_char(line_[pos_])) ++pos_;
        return std::string(line_.substr(start, pos_ - start));
    }

private:
    char peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }
    void skip_spaces() {
        while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
    }
    [[noreturn]] void fail(const char* expected) const {
        throw PromParseError("metrics line " + std::to_string(number_) + ": expected " + expected + " at column " +
                             std::to_string(pos_ + 1) + " in '" + std::string(line_.substr(0, 200)) + "'");
    }

    PromLabels labels() {
        PromLabels out;
        ++pos_;  // '{'
        for (;;) {
            skip_spaces();
            if (peek() == '}') break;
            std::string key = name();
            skip_spaces();
            if (peek() != '=') fail("'='");
            ++pos_;
            skip_spaces();
            if (peek() != '"') fail("a quoted label value");
            ++pos_;
            std::string value;
            for (;;) {
                if (pos_ >= line_.size()) fail("the closing quote");
                const char c = line_[pos_++];
                if (c == '"') break;
                if (c != '\\') {
                    value += c;
                    continue;
                }
                if (pos_ >= line_.size()) fail("an escaped character");
                const char e = line_[pos_++];
                value += e == 'n' ? '\n' : e;
            }
            out[std::move(key)] = std::move(value);
            skip_spaces();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            if (peek() != '}') fail("',' or '}'");
        }
        ++pos_;  // '}'
        return out;
    }

    std::string_view line_;
    std::size_t number_;
    std::size_t pos_ = 0;
};

bool matches(const PromSample& s, const PromLabels& filter) {
    for (const auto& [key, value] : filter) {
        const auto it = s.labels.find(key);
        if (it == s.labels.end() || it->second != value) return false;
    }
    return true;
}

}  // namespace

std::optional<double> parse_prometheus_number(std::string_view text) {
    if (text == "+Inf" || text == "Inf") return std::numeric_limits<double>::infinity();
    if (text == "-Inf") return -std::numeric_limits<double>::infinity();
    if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
    if (!text.empty() && text.front() == '+') text.remove_prefix(1);
    double v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size()) return std::nullopt;
    return v;
}

PromText PromText::parse(std::string_view text) {
    PromText out;
    std::size_t number = 0;
    while (!text.empty()) {
        const std::size_t eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        ++number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string_view::npos) continue;
        line.remove_prefix(first);
        if (line.front() == '#') {
            // "# TYPE name type" or "# HELP name text"; other comments are ignored.
            const bool is_type = line.rfind("# TYPE ", 0) == 0, is_help = line.rfind("# HELP ", 0) == 0;
            if (!is_type && !is_help) continue;
            std::string_view rest = line.substr(7);
            const std::size_t space = rest.find(' ');
            const std::string name(rest.substr(0, space));
            const std::string value(space == std::string_view::npos ? std::string_view() : rest.substr(space + 1));
            (is_type ? out.types_ : out.helps_)[name] = value;
            continue;
        }
        out.samples_.push_back(LineReader(line, number).sample());
    }
    return out;
}

std::string PromText::type(const std::string& family) const {
    const auto it = types_.find(family);
    return it == types_.end() ? std::string() : it->second;
}

std::string PromText::help(const std::string& family) const {
    const auto it = helps_.find(family);
    return it == helps_.end() ? std::string() : it->second;
}

std::vector<const PromSample*> PromText::find(const std::string& name, const PromLabels& filter) const {
    std::vector<const PromSample*> out;
    for (const PromSample& s : samples_) {
        if (s.name == name && matches(s, filter)) out.push_back(&s);
    }
    return out;
}

std::optional<double> PromText::value(const std::string& name, const PromLabels& filter) const {
    const auto found = find(name, filter);
    if (found.empty()) return std::nullopt;
    return found.front()->value;
}

double PromText::sum(const std::string& name, const PromLabels& filter) const {
    double total = 0;
    for (const PromSample* s : find(name, filter)) total += s->value;
    return total;
}

std::optional<PromHistogram> PromText::histogram(const std::string& name, const PromLabels& filter) const {
    const auto buckets = find(name + "_bucket", filter);
    if (buckets.empty()) return std::nullopt;
    std::map<double, double> by_le;
    for (const PromSample* s : buckets) {
        const auto it = s->labels.find("le");
        if (it == s->labels.end()) continue;
        const std::optional<double> le = parse_prometheus_number(it->second);
        if (le) by_le[*le] += s->value;
    }
    PromHistogram h;
    h.buckets.assign(by_le.begin(), by_le.end());
    h.sum = sum(name + "_sum", filter);
    h.count = sum(name + "_count", filter);
    return h;
}

}  // namespace kvscope::server
