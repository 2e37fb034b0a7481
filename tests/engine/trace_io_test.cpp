// Traces as JSONL: a written trace reads back equal (header, ids or lengths, n, per-sample
// outputs, priorities), files are replaced atomically, and every malformed line is a one-line
// FileError naming the file and line and saying what to give instead.

#include "engine/trace_io.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace trace_io_test {

Trace sample_trace() {
    Trace t;
    t.header.source = "test";
    t.header.model = "stories260K";
    t.header.max_model_len = 512;
    t.header.kv_bytes_per_token = 2560;
    t.header.kv_cache_tokens = 4096;
    TraceRequest a;
    a.arrival_s = 0.25;
    a.prompt_token_ids = {1, 403, 407};
    a.prompt_len = 3;
    a.output_lens = {20};
    TraceRequest b;
    b.arrival_s = 1.5;
    b.prompt_len = 161;
    b.output_lens = {338};
    b.priority = -2;
    TraceRequest c;
    c.prompt_token_ids = {1, 9};
    c.prompt_len = 2;
    c.output_lens = {3, 1};
    c.output_token_ids = {{5, 6, 7}, {8}};
    t.requests = {a, b, c};
    return t;
}

void expect_equal(const Trace& x, const Trace& y) {
    EXPECT_EQ(x.header.source, y.header.source);
    EXPECT_EQ(x.header.model, y.header.model);
    EXPECT_EQ(x.header.max_model_len, y.header.max_model_len);
    EXPECT_EQ(x.header.kv_bytes_per_token, y.header.kv_bytes_per_token);
    EXPECT_EQ(x.header.kv_cache_tokens, y.header.kv_cache_tokens);
    ASSERT_EQ(x.requests.size(), y.requests.size());
    for (std::size_t i = 0; i < x.requests.size(); ++i) {
        const TraceRequest &a = x.requests[i], &b = y.requests[i];
        EXPECT_EQ(a.arrival_s, b.arrival_s);
        EXPECT_EQ(a.prompt_token_ids, b.prompt_token_ids);
        EXPECT_EQ(a.prompt_len, b.prompt_len);
        EXPECT_EQ(a.output_lens, b.output_lens);
        EXPECT_EQ(a.output_token_ids, b.output_token_ids);
        EXPECT_EQ(a.priority, b.priority);
    }
}

Trace parse(const std::string& text) {
    std::istringstream in(text);
    return parse_trace(in, "t.jsonl");
}

std::string error_of(const std::string& text) {
    try {
        parse(text);
    } catch (const FileError& e) {
        return e.what();
    }
    return "(no error)";
}

TEST(TraceIo, WrittenTracesReadBackEqual) {
    const auto path = (test::temp_dir() / "trace.jsonl").string();
    const Trace t = sample_trace();
    write_trace(t, path);
    expect_equal(read_trace(path), t);
    // The lines are the documented ones.
    std::ifstream in(path);
    std::string header, first;
    std::getline(in, header);
    std::getline(in, first);
    EXPECT_EQ(first, R"({"arrival_s":0.25,"output_len":20,"prompt_token_ids":[1,403,407]})");
    EXPECT_NE(header.find(R"("kvscope_trace":1)"), std::string::npos);
    // Replaced whole, no temporary left beside it.
    Trace shorter = t;
    shorter.requests.resize(1);
    write_trace(shorter, path);
    EXPECT_EQ(read_trace(path).requests.size(), 1u);
    int files = 0;
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(path).parent_path())) {
        (void)e;
        ++files;
    }
    EXPECT_EQ(files, 1);
}

TEST(TraceIo, ReadsTheShortForms) {
    const Trace t = parse(
        "\n{\"prompt_len\": 4, \"output_len\": 2}\n"
        "{\"prompt_token_ids\": [1, 2], \"n\": 3, \"output_len\": 5, \"arrival_s\": 2}\n"
        "{\"prompt_len\": 2, \"output_len\": [1, 4]}\n");
    ASSERT_EQ(t.requests.size(), 3u);
    EXPECT_EQ(t.requests[0].arrival_s, 0);
    EXPECT_TRUE(t.requests[0].prompt_token_ids.empty());
    EXPECT_EQ(t.requests[0].prompt_len, 4);
    EXPECT_EQ(t.requests[1].output_lens, (std::vector<std::int32_t>{5, 5, 5}));
    EXPECT_EQ(t.requests[2].n(), 2);
    EXPECT_EQ(t.requests[2].num_output_tokens(), 5);
    EXPECT_FALSE(t.header.max_model_len.has_value());
}

TEST(TraceIo, BadLinesAreOneLineFileErrors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"{\"prompt_len\": 3}", "t.jsonl:1: \"output_len\" is missing"},
        {"\n\n{\"output_len\": 3}", "t.jsonl:3: the prompt is missing; give \"prompt_token_ids\" or \"prompt_len\""},
        {"{\"prompt_len\": 3, \"output_len\": 0}", "t.jsonl:1: \"output_len\" is 0; give a value in [1,"},
        {"{\"prompt_len\": 3, \"output_len\": 2, \"out\": 1}", "t.jsonl:1: unknown field \"out\""},
        {"{\"prompt_len\": 3, \"output_len\": [2, 2], \"n\": 3}", "\"output_len\" has 2 lengths but \"n\" is 3"},
        {"{\"prompt_token_ids\": [], \"output_len\": 1}", "t.jsonl:1: the prompt is empty"},
        {"{\"prompt_token_ids\": [1, \"a\"], \"output_len\": 1}", "\"prompt_token_ids[]\" must be an integer"},
        {"{\"prompt_len\": 3, \"output_len\": 2, \"arrival_s\": -1}", "\"arrival_s\" must be a finite time >= 0"},
        {"{\"prompt_len\": 3, \"output_len\": 2, \"output_token_ids\": [[1]]}", "sample 0 has 1 output token ids"},
        {"{\"prompt_len\": 3, \"output_len\": 2}\n{\"kvscope_trace\": 1}", "t.jsonl:2: a header"},
        {"{\"kvscope_trace\": 2}", "t.jsonl:1: trace format version 2 is newer"},
        {"[1, 2]", "t.jsonl:1: each line must be a JSON object"},
        {"{\"prompt_len\": 3,", "t.jsonl:1: not valid JSON"},
    };
    for (const auto& [text, want] : cases) {
        const std::string got = error_of(text);
        EXPECT_NE(got.find(want), std::string::npos) << text << " -> " << got;
        EXPECT_EQ(got.find('\n'), std::string::npos) << got;
    }
    EXPECT_THROW(read_trace("/nonexistent/trace.jsonl"), FileError);
    EXPECT_THROW(write_trace(sample_trace(), "/nonexistent/dir/trace.jsonl"), FileError);
}

TEST(TraceIo, WorkloadsBecomeTraces) {
    WorkloadSpec spec;
    spec.num_requests = 5;
    spec.request_rate = 2;
    const Trace t = trace_from_workload(generate_workload(spec, 100, 3, 1), 2);
    ASSERT_EQ(t.requests.size(), 5u);
    for (const TraceRequest& r : t.requests) {
        EXPECT_EQ(r.prompt_len, 128);  // the BOS and 127 drawn tokens
        EXPECT_EQ(r.output_lens, (std::vector<std::int32_t>{128, 128}));
    }
    EXPECT_GT(t.requests[4].arrival_s, 0);
}

}  // namespace trace_io_test
}  // namespace kvscope
