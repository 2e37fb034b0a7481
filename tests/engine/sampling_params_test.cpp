// SamplingParams: vLLM's defaults, and validate()'s ranges and one-line messages.

#include "engine/sampling_params.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "engine/error.h"

namespace kvscope {
namespace sampling_params_test {

constexpr int32_t kVocab = 1000;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(SamplingParams, DefaultsAreVllms) {
    const SamplingParams p;
    EXPECT_EQ(p.n, 1);
    EXPECT_EQ(p.max_tokens, 16);
    EXPECT_EQ(p.temperature, 1.0);
    EXPECT_EQ(p.top_k, 0);
    EXPECT_EQ(p.top_p, 1.0);
    EXPECT_EQ(p.min_p, 0.0);
    EXPECT_EQ(p.repetition_penalty, 1.0);
    EXPECT_EQ(p.presence_penalty, 0.0);
    EXPECT_EQ(p.frequency_penalty, 0.0);
    EXPECT_FALSE(p.seed.has_value());
    EXPECT_TRUE(p.stop.empty());
    EXPECT_TRUE(p.stop_token_ids.empty());
    EXPECT_FALSE(p.ignore_eos);
    EXPECT_FALSE(p.logprobs.has_value());
    EXPECT_FALSE(p.include_stop_str_in_output);
    EXPECT_FALSE(p.is_greedy());
    EXPECT_FALSE(p.has_penalties());
    EXPECT_NO_THROW(p.validate(kVocab));
}

struct BadCase {
    const char* name;
    std::function<void(SamplingParams&)> change;
    std::vector<std::string> message_parts;  // field, value, range
};

std::string validation_message(const SamplingParams& p) {
    try {
        p.validate(kVocab);
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "";
}

TEST(SamplingParams, EachBadFieldIsNamedWithValueAndRange) {
    const std::vector<BadCase> cases = {
        {"n zero", [](SamplingParams& p) { p.n = 0; }, {"n = 0", "[1, 16384]"}},
        {"n huge", [](SamplingParams& p) { p.n = 20000; }, {"n = 20000", "[1, 16384]"}},
        {"max_tokens", [](SamplingParams& p) { p.max_tokens = 0; }, {"max_tokens = 0", "at least 1"}},
        {"temperature neg", [](SamplingParams& p) { p.temperature = -0.5; }, {"temperature = -0.5", ">= 0"}},
        {"temperature inf", [](SamplingParams& p) { p.temperature = INFINITY; }, {"temperature = inf", ">= 0"}},
        {"temperature nan", [](SamplingParams& p) { p.temperature = kNaN; }, {"temperature = nan", "finite"}},
        {"top_k", [](SamplingParams& p) { p.top_k = -2; }, {"top_k = -2", "-1 or 0", "at least 1"}},
        {"top_p zero", [](SamplingParams& p) { p.top_p = 0.0; }, {"top_p = 0", "(0, 1]"}},
        {"top_p big", [](SamplingParams& p) { p.top_p = 1.5; }, {"top_p = 1.5", "(0, 1]"}},
        {"top_p nan", [](SamplingParams& p) { p.top_p = kNaN; }, {"top_p = nan", "(0, 1]"}},
        {"min_p neg", [](SamplingParams& p) { p.min_p = -0.1; }, {"min_p = -0.1", "[0, 1]"}},
        {"min_p big", [](SamplingParams& p) { p.min_p = 1.25; }, {"min_p = 1.25", "[0, 1]"}},
        {"rep zero", [](SamplingParams& p) { p.repetition_penalty = 0.0; }, {"repetition_penalty = 0", "> 0"}},
        {"rep nan", [](SamplingParams& p) { p.repetition_penalty = kNaN; }, {"repetition_penalty = nan", "> 0"}},
        {"presence", [](SamplingParams& p) { p.presence_penalty = 2.5; }, {"presence_penalty = 2.5", "[-2, 2]"}},
        {"frequency", [](SamplingParams& p) { p.frequency_penalty = -3; }, {"frequency_penalty = -3", "[-2, 2]"}},
        {"frequency nan", [](SamplingParams& p) { p.frequency_penalty = kNaN; }, {"frequency_penalty = nan"}},
        {"logprobs neg", [](SamplingParams& p) { p.logprobs = -1; }, {"logprobs = -1", "[0, 20]"}},
        {"logprobs big", [](SamplingParams& p) { p.logprobs = 21; }, {"logprobs = 21", "[0, 20]"}},
        {"stop empty",
         [](SamplingParams& p) {
             p.stop = {"ok", ""};
         },
         {"stop[1]", "must not be empty"}},
        {"stop utf8", [](SamplingParams& p) { p.stop = {"\xff"}; }, {"stop[0] = \"\\xff\"", "UTF-8"}},
        {"stop overlong", [](SamplingParams& p) { p.stop = {"a\xC0\xAF"}; }, {"stop[0]", "UTF-8"}},
        {"stop truncated", [](SamplingParams& p) { p.stop = {"\xE6\xAD"}; }, {"stop[0]", "UTF-8"}},
        {"stop surrogate", [](SamplingParams& p) { p.stop = {"\xED\xA0\x80"}; }, {"stop[0]", "UTF-8"}},
        {"stop id big",
         [](SamplingParams& p) {
             p.stop_token_ids = {5, 1000};
         },
         {"stop_token_ids[1] = 1000", "[0, 1000)"}},
        {"stop id neg", [](SamplingParams& p) { p.stop_token_ids = {-1}; }, {"stop_token_ids[0] = -1", "[0, 1000)"}},
    };
    for (const BadCase& c : cases) {
        SamplingParams p;
        c.change(p);
        const std::string message = validation_message(p);
        ASSERT_FALSE(message.empty()) << c.name << ": accepted";
        EXPECT_EQ(message.find('\n'), std::string::npos) << c.name << ": " << message;
        for (const std::string& part : c.message_parts) {
            EXPECT_NE(message.find(part), std::string::npos) << c.name << ": '" << part << "' not in: " << message;
        }
    }
}

TEST(SamplingParams, BoundaryValuesAreAccepted) {
    const std::vector<std::function<void(SamplingParams&)>> changes = {
        [](SamplingParams& p) { p.n = 16384; },
        [](SamplingParams& p) { p.temperature = 0.0; },
        [](SamplingParams& p) { p.temperature = 1e-9; },
        [](SamplingParams& p) { p.temperature = 5.0; },
        [](SamplingParams& p) { p.top_k = -1; },
        [](SamplingParams& p) { p.top_k = 1; },
        [](SamplingParams& p) { p.top_k = 1000000; },
        [](SamplingParams& p) { p.top_p = 1e-9; },
        [](SamplingParams& p) { p.min_p = 1.0; },
        [](SamplingParams& p) { p.repetition_penalty = 0.01; },
        [](SamplingParams& p) { p.presence_penalty = -2.0; },
        [](SamplingParams& p) { p.frequency_penalty = 2.0; },
        [](SamplingParams& p) { p.logprobs = 0; },
        [](SamplingParams& p) { p.logprobs = 20; },
        [](SamplingParams& p) {
            p.stop_token_ids = {0, 999};
        },
        [](SamplingParams& p) {
            p.stop = {"\xC3\xA9", "\xE5\x81\x9C\xE6\xAD\xA2", "\xF0\x9F\x98\x80", "\n\n"};
        },
        [](SamplingParams& p) { p.seed = 0; },
    };
    for (size_t i = 0; i < changes.size(); ++i) {
        SamplingParams p;
        changes[i](p);
        EXPECT_EQ(validation_message(p), "") << "case " << i;
    }
}

TEST(SamplingParams, TinyTemperaturesSampleAtTheMinimum) {
    SamplingParams p;
    p.temperature = 0.0;
    EXPECT_TRUE(p.is_greedy());
    EXPECT_EQ(p.effective_temperature(), 0.0);
    p.temperature = 1e-6;
    EXPECT_FALSE(p.is_greedy());
    EXPECT_EQ(p.effective_temperature(), 0.01);
    p.temperature = 0.7;
    EXPECT_EQ(p.effective_temperature(), 0.7);
}

TEST(SamplingParams, HasPenalties) {
    SamplingParams p;
    p.repetition_penalty = 1.1;
    EXPECT_TRUE(p.has_penalties());
    p = {};
    p.presence_penalty = -0.5;
    EXPECT_TRUE(p.has_penalties());
    p = {};
    p.frequency_penalty = 0.1;
    EXPECT_TRUE(p.has_penalties());
}

}  // namespace sampling_params_test
}  // namespace kvscope
