#include "engine/trace_io.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "engine/atomic_file.h"
#include "engine/error.h"

namespace kvscope {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kMaxTokens = std::numeric_limits<std::int32_t>::max();

// Messages of one line: "FILE:LINE: <what>".
struct LineContext {
    const std::string& name;
    int line = 0;
    [[noreturn]] void fail(const std::string& what) const {
        throw FileError(name + ":" + std::to_string(line) + ": " + what);
    }
};

std::int64_t integer(const LineContext& at, const Json& j, const std::string& key, std::int64_t min, std::int64_t max) {
    if (!j.is_number_integer()) at.fail("\"" + key + "\" must be an integer, got " + j.dump());
    const std::int64_t v = j.get<std::int64_t>();
    if (v < min || v > max) {
        at.fail("\"" + key + "\" is " + std::to_string(v) + "; give a value in [" + std::to_string(min) + ", " +
                std::to_string(max) + "]");
    }
    return v;
}

std::vector<std::int32_t> token_ids(const LineContext& at, const Json& j, const std::string& key) {
    if (!j.is_array()) at.fail("\"" + key + "\" must be an array of token ids");
    std::vector<std::int32_t> ids;
    ids.reserve(j.size());
    for (const Json& t : j) {
        // Token ids are never negative (the lab's placeholders for unknown tokens are).
        ids.push_back(
            static_cast<std::int32_t>(integer(at, t, key + "[]", 0, std::numeric_limits<std::int32_t>::max())));
    }
    return ids;
}

void read_header(const LineContext& at, const Json& j, TraceHeader& header) {
    for (const auto& [key, value] : j.items()) {
        if (key == "kvscope_trace") {
            if (integer(at, value, key, 1, 1000) != 1)
                at.fail("trace format version " + value.dump() + " is newer than this kvscope reads (1)");
        } else if (key == "source" || key == "model") {
            if (!value.is_string()) at.fail("\"" + key + "\" must be a string");
            (key == "source" ? header.source : header.model) = value.get<std::string>();
        } else if (key == "max_model_len") {
            header.max_model_len = static_cast<std::int32_t>(integer(at, value, key, 1, kMaxTokens));
        } else if (key == "kv_bytes_per_token") {
            header.kv_bytes_per_token = integer(at, value, key, 1, std::int64_t{1} << 40);
        } else if (key == "kv_cache_tokens") {
            header.kv_cache_tokens = integer(at, value, key, 1, std::int64_t{1} << 40);
        } else {
            at.fail("unknown header field \"" + key +
                    "\"; the header has kvscope_trace, source, model, max_model_len, kv_bytes_per_token, "
                    "kv_cache_tokens");
        }
    }
}

void read_outputs(const LineContext& at, const Json& j, TraceRequest& r) {
    if (!j.contains("output_len")) at.fail("\"output_len\" is missing; give the output length each request reached");
    const Json& len = j["output_len"];
    std::optional<std::int64_t> n;
    if (j.contains("n")) n = integer(at, j["n"], "n", 1, 1 << 20);
    if (len.is_array()) {
        for (const Json& l : len)
            r.output_lens.push_back(static_cast<std::int32_t>(integer(at, l, "output_len[]", 1, kMaxTokens)));
        if (r.output_lens.empty()) at.fail("\"output_len\" is an empty array; give one length per sample");
        if (n && *n != r.n()) {
            at.fail("\"output_len\" has " + std::to_string(r.n()) + " lengths but \"n\" is " + std::to_string(*n) +
                    "; give one length per sample");
        }
    } else {
        const auto l = static_cast<std::int32_t>(integer(at, len, "output_len", 1, kMaxTokens));
        r.output_lens.assign(static_cast<std::size_t>(n.value_or(1)), l);
    }
    if (!j.contains("output_token_ids")) return;
    const Json& outs = j["output_token_ids"];
    if (!outs.is_array() || outs.size() != r.output_lens.size()) {
        at.fail("\"output_token_ids\" must hold one list of token ids per sample (" + std::to_string(r.n()) + ")");
    }
    for (std::size_t i = 0; i < outs.size(); ++i) {
        r.output_token_ids.push_back(token_ids(at, outs[i], "output_token_ids"));
        if (r.output_token_ids.back().size() != static_cast<std::size_t>(r.output_lens[i])) {
            at.fail("sample " + std::to_string(i) + " has " + std::to_string(r.output_token_ids.back().size()) +
                    " output token ids but an output length of " + std::to_string(r.output_lens[i]) +
                    "; make them agree");
        }
    }
}

TraceRequest read_request(const LineContext& at, const Json& j) {
    static const std::set<std::string> kKeys = {"arrival_s", "prompt_token_ids", "prompt_len", "output_len",
                                                "n",         "output_token_ids", "priority"};
    for (const auto& [key, value] : j.items()) {
        if (!kKeys.contains(key)) {
            at.fail("unknown field \"" + key +
                    "\"; a request has arrival_s, prompt_token_ids or prompt_len, output_len, n, output_token_ids, "
                    "priority");
        }
    }
    TraceRequest r;
    if (j.contains("arrival_s")) {
        if (!j["arrival_s"].is_number()) at.fail("\"arrival_s\" must be a number of seconds");
        r.arrival_s = j["arrival_s"].get<double>();
        if (!std::isfinite(r.arrival_s) || r.arrival_s < 0) at.fail("\"arrival_s\" must be a finite time >= 0");
    }
    if (j.contains("prompt_token_ids")) {
        r.prompt_token_ids = token_ids(at, j["prompt_token_ids"], "prompt_token_ids");
        r.prompt_len = static_cast<std::int32_t>(r.prompt_token_ids.size());
        if (j.contains("prompt_len") && integer(at, j["prompt_len"], "prompt_len", 0, kMaxTokens) != r.prompt_len) {
            at.fail("\"prompt_len\" differs from the number of \"prompt_token_ids\"; give one of them");
        }
    } else if (j.contains("prompt_len")) {
        r.prompt_len = static_cast<std::int32_t>(integer(at, j["prompt_len"], "prompt_len", 1, kMaxTokens));
    } else {
        at.fail("the prompt is missing; give \"prompt_token_ids\" or \"prompt_len\"");
    }
    if (r.prompt_len < 1) at.fail("the prompt is empty; a request has at least one prompt token");
    read_outputs(at, j, r);
    if (j.contains("priority")) {
        r.priority =
            static_cast<std::int32_t>(integer(at, j["priority"], "priority", std::numeric_limits<std::int32_t>::min(),
                                              std::numeric_limits<std::int32_t>::max()));
    }
    return r;
}

}  // namespace

Trace parse_trace(std::istream& in, const std::string& name) {
    Trace trace;
    LineContext at{name};
    bool first = true;
    for (std::string line; std::getline(in, line);) {
        ++at.line;
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        Json j;
        try {
            j = Json::parse(line);
        } catch (const Json::parse_error&) {
            at.fail("not valid JSON; each line must be one JSON object (a request, or the header first)");
        }
        if (!j.is_object()) at.fail("each line must be a JSON object, got " + std::string(j.type_name()));
        if (j.contains("kvscope_trace")) {
            if (!first) at.fail("a header (\"kvscope_trace\") may only be the first line");
            read_header(at, j, trace.header);
        } else {
            trace.requests.push_back(read_request(at, j));
        }
        first = false;
    }
    if (in.bad()) throw FileError(name + ": read error; check the file and the disk");
    return trace;
}

Trace read_trace(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw FileError(path + ": is a directory, not a trace; give a JSONL file (make-trace or generate --trace-out)");
    }
    std::ifstream in(path);
    if (!in) throw FileError(path + ": cannot open the trace; check the path");
    return parse_trace(in, path);
}

std::string trace_to_jsonl(const Trace& trace) {
    const TraceHeader& h = trace.header;
    Json header = {{"kvscope_trace", 1}};
    if (!h.source.empty()) header["source"] = h.source;
    if (!h.model.empty()) header["model"] = h.model;
    if (h.max_model_len) header["max_model_len"] = *h.max_model_len;
    if (h.kv_bytes_per_token) header["kv_bytes_per_token"] = *h.kv_bytes_per_token;
    if (h.kv_cache_tokens) header["kv_cache_tokens"] = *h.kv_cache_tokens;
    std::string out = header.dump() + "\n";
    for (std::size_t i = 0; i < trace.requests.size(); ++i) {
        const TraceRequest& r = trace.requests[i];
        if (r.output_lens.empty() || r.prompt_len < 1) {
            throw ConfigError("trace request " + std::to_string(i) +
                              " has no prompt token or no sample; every request needs both");
        }
        Json j = {{"arrival_s", r.arrival_s}};
        if (r.prompt_token_ids.empty()) {
            j["prompt_len"] = r.prompt_len;
        } else {
            j["prompt_token_ids"] = r.prompt_token_ids;
        }
        if (r.n() != 1) j["n"] = r.n();
        j["output_len"] = r.n() == 1 ? Json(r.output_lens.front()) : Json(r.output_lens);
        if (!r.output_token_ids.empty()) j["output_token_ids"] = r.output_token_ids;
        if (r.priority != 0) j["priority"] = r.priority;
        out += j.dump() + "\n";
    }
    return out;
}

void write_trace(const Trace& trace, const std::string& path) {
    write_file_atomically(path, trace_to_jsonl(trace));
}

}  // namespace kvscope
