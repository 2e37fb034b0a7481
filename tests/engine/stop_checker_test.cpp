// StopChecker against a naive oracle over the whole text (every way of splitting it into deltas
// must give the oracle's output), its hold-back rule, and the per-token finish checks.

#include "engine/stop_checker.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/rng.h"

namespace kvscope {
namespace stop_checker_test {

struct Expected {
    std::string output;
    bool stopped = false;
    int32_t stop_index = -1;
};

// The whole text at once: the first end position where a stop string ends (longest on a tie).
Expected naive_stop(const std::string& text, const std::vector<std::string>& stops, bool include) {
    for (size_t end = 1; end <= text.size(); ++end) {
        int32_t best = -1;
        for (size_t i = 0; i < stops.size(); ++i) {
            const std::string& s = stops[i];
            if (s.size() > end || text.compare(end - s.size(), s.size(), s) != 0) continue;
            if (best < 0 || s.size() > stops[best].size()) best = static_cast<int32_t>(i);
        }
        if (best >= 0) {
            const size_t start = end - stops[best].size();
            return {text.substr(0, include ? end : start), true, best};
        }
    }
    return {text, false, -1};
}

// The longest suffix of `text` that is a proper prefix of a stop string.
size_t naive_hold(const std::string& text, const std::vector<std::string>& stops) {
    size_t best = 0;
    for (const std::string& s : stops) {
        for (size_t len = 1; len < s.size() && len <= text.size(); ++len) {
            if (text.compare(text.size() - len, len, s, 0, len) == 0) best = std::max(best, len);
        }
    }
    return best;
}

bool is_utf8_boundary(const std::string& text, size_t pos) {
    return pos == text.size() || (static_cast<unsigned char>(text[pos]) & 0xC0) != 0x80;
}

// Feeds `text` cut at `cuts` (ascending positions) and checks every step against the oracle.
void check_split(const std::string& text, const std::vector<std::string>& stops, bool include,
                 const std::vector<size_t>& cuts) {
    const Expected expected = naive_stop(text, stops, include);
    StopChecker checker(stops, include);
    std::string out;
    std::string fed;
    std::vector<size_t> bounds = cuts;
    bounds.push_back(text.size());
    size_t begin = 0;
    std::string where = "text '" + text + "' include=" + std::to_string(include) + " cuts:";
    for (size_t c : cuts) {
        where += ' ';
        where += std::to_string(c);
    }
    for (const size_t end : bounds) {
        const std::string delta = text.substr(begin, end - begin);
        begin = end;
        fed += delta;
        const StopMatch match = checker.feed(delta, out);
        // Never emit what the final output does not start with.
        ASSERT_EQ(expected.output.compare(0, out.size(), out), 0) << where << " emitted '" << out << "'";
        ASSERT_TRUE(is_utf8_boundary(expected.output, out.size())) << where;
        if (match.stopped) break;
        // Not stopped: everything fed is emitted except exactly the part that could still match.
        const size_t hold = include ? 0 : naive_hold(fed, stops);
        ASSERT_EQ(checker.num_held_bytes(), hold) << where << " after '" << fed << "'";
        ASSERT_EQ(out.size() + hold, fed.size()) << where;
    }
    checker.flush(out);
    EXPECT_EQ(out, expected.output) << where;
    EXPECT_EQ(checker.stopped(), expected.stopped) << where;
    EXPECT_EQ(checker.match().stop_index, expected.stop_index) << where;
}

// Every way to cut the text in one or two places (at character boundaries), and char by char.
void check_all_splits(const std::string& text, const std::vector<std::string>& stops) {
    std::vector<size_t> boundaries;
    for (size_t i = 1; i < text.size(); ++i) {
        if (is_utf8_boundary(text, i)) boundaries.push_back(i);
    }
    for (const bool include : {false, true}) {
        check_split(text, stops, include, {});
        check_split(text, stops, include, boundaries);
        for (size_t a = 0; a < boundaries.size(); ++a) {
            check_split(text, stops, include, {boundaries[a]});
            for (size_t b = a + 1; b < boundaries.size(); ++b) {
                check_split(text, stops, include, {boundaries[a], boundaries[b]});
            }
        }
    }
}

TEST(StopChecker, SimpleStopAcrossEverySplit) {
    check_all_splits("Hello world. Bye", {"world"});
    check_all_splits("no stop here at all", {"STOP"});
    check_all_splits("ends with the stop", {"stop"});
    check_all_splits("stop at the start", {"stop"});
}

TEST(StopChecker, OverlappingCandidatePrefixes) {
    // "abab" partially matches "ababc" twice over; "aab" restarts inside itself.
    check_all_splits("xabababcy", {"ababc"});
    check_all_splits("aaab aab", {"aab"});
    // Several stops sharing prefixes; the first to end wins, the longest on a tie.
    check_all_splits("abcabcd", {"abcd", "bca"});
    check_all_splits("xxabcdyy", {"cd", "abcd", "bcd"});
    check_all_splits("xabcab", {"abcabd", "cab"});
    check_all_splits("aaaaab", {"aab", "aaaaaaa"});
}

TEST(StopChecker, RandomTextsAndStops) {
    SequenceRandom random(2024, 0);
    const auto pick = [&](size_t n) { return static_cast<size_t>(random.uniform01() * n); };
    for (int trial = 0; trial < 60; ++trial) {
        std::string text;
        const size_t length = 4 + pick(10);
        for (size_t i = 0; i < length; ++i) text += "abc"[pick(3)];
        std::vector<std::string> stops(1 + pick(3));
        for (auto& s : stops) {
            const size_t stop_length = 1 + pick(4);
            for (size_t i = 0; i < stop_length; ++i) s += "abc"[pick(3)];
        }
        check_all_splits(text, stops);
    }
}

TEST(StopChecker, MultiByteUtf8) {
    // "前进é停止后", stops "停止" (stop) and "é!" (a prefix that fails)
    const std::string text = "\xE5\x89\x8D\xE8\xBF\x9B\xC3\xA9\xE5\x81\x9C\xE6\xAD\xA2\xE5\x90\x8E";
    check_all_splits(text, {"\xE5\x81\x9C\xE6\xAD\xA2", "\xC3\xA9!"});
    // A stop whose first character also appears earlier on its own.
    check_all_splits("\xF0\x9F\x98\x80 a \xF0\x9F\x98\x80\xF0\x9F\x98\x81 b", {"\xF0\x9F\x98\x80\xF0\x9F\x98\x81"});

    StopChecker checker({"\xE5\x81\x9C\xE6\xAD\xA2"}, false);
    std::string out;
    checker.feed("\xE5\x89\x8D\xE5\x81\x9C", out);  // "前停": "停" may start the stop
    EXPECT_EQ(out, "\xE5\x89\x8D");
    EXPECT_EQ(checker.num_held_bytes(), 3u);
}

TEST(StopChecker, HoldsOnlyWhatCanStillMatch) {
    StopChecker checker({"abc"}, false);
    std::string out;
    checker.feed("xyzab", out);
    EXPECT_EQ(out, "xyz");
    EXPECT_EQ(checker.num_held_bytes(), 2u);
    checker.feed("x", out);  // "abx" cannot become "abc": all of it goes out
    EXPECT_EQ(out, "xyzabx");
    EXPECT_EQ(checker.num_held_bytes(), 0u);
    checker.feed("a", out);
    EXPECT_EQ(out, "xyzabx");
    checker.flush(out);  // the end of the sample releases the held "a"
    EXPECT_EQ(out, "xyzabxa");
    EXPECT_FALSE(checker.stopped());
}

TEST(StopChecker, IncludeStopStringEmitsEagerly) {
    StopChecker checker({"END"}, true);
    std::string out;
    EXPECT_FALSE(checker.feed("fooEN", out).stopped);
    EXPECT_EQ(out, "fooEN");
    const StopMatch match = checker.feed("Dbar", out);
    EXPECT_TRUE(match.stopped);
    EXPECT_EQ(match.stop_index, 0);
    EXPECT_EQ(out, "fooEND");
}

TEST(StopChecker, NothingAfterTheStop) {
    StopChecker checker({"x", "yy"}, false);
    std::string out;
    const StopMatch match = checker.feed("abyyc", out);
    EXPECT_TRUE(match.stopped);
    EXPECT_EQ(match.stop_index, 1);
    EXPECT_EQ(out, "ab");
    const StopMatch again = checker.feed("more x", out);
    EXPECT_TRUE(again.stopped);
    EXPECT_EQ(again.stop_index, 1);
    checker.flush(out);
    EXPECT_EQ(out, "ab");
}

TEST(StopChecker, WithoutStopStringsPassesTextThrough) {
    StopChecker checker(SamplingParams{});
    std::string out;
    checker.feed("abc", out);
    checker.feed("", out);
    checker.feed("def", out);
    EXPECT_EQ(out, "abcdef");
    EXPECT_EQ(checker.num_held_bytes(), 0u);
}

TEST(TokenFinish, VllmOrderEosThenStopTokensThenLength) {
    SamplingParams p;
    p.max_tokens = 4;
    p.stop_token_ids = {7, 9};
    const std::vector<int32_t> eos = {2, 3};

    EXPECT_EQ(check_token_finish(5, 1, false, p, eos).reason, FinishReason::none);
    EXPECT_EQ(check_token_finish(2, 1, false, p, eos).reason, FinishReason::stop);
    EXPECT_EQ(check_token_finish(3, 1, false, p, eos).stop_token_id, -1);
    const TokenFinish by_stop_token = check_token_finish(9, 1, false, p, eos);
    EXPECT_EQ(by_stop_token.reason, FinishReason::stop);
    EXPECT_EQ(by_stop_token.stop_token_id, 9);
    // Length: the max_tokens-th token, or a full context.
    EXPECT_EQ(check_token_finish(5, 3, false, p, eos).reason, FinishReason::none);
    EXPECT_EQ(check_token_finish(5, 4, false, p, eos).reason, FinishReason::length);
    EXPECT_EQ(check_token_finish(5, 1, true, p, eos).reason, FinishReason::length);
    // EOS and stop tokens come before length.
    EXPECT_EQ(check_token_finish(2, 4, true, p, eos).reason, FinishReason::stop);
    EXPECT_EQ(check_token_finish(7, 4, false, p, eos).stop_token_id, 7);

    p.ignore_eos = true;
    EXPECT_EQ(check_token_finish(2, 1, false, p, eos).reason, FinishReason::none);
    EXPECT_EQ(check_token_finish(2, 4, false, p, eos).reason, FinishReason::length);
    EXPECT_EQ(check_token_finish(7, 1, false, p, eos).reason, FinishReason::stop);  // stop tokens still stop

    EXPECT_EQ(finish_reason_name(FinishReason::stop), "stop");
    EXPECT_EQ(finish_reason_name(FinishReason::length), "length");
    EXPECT_EQ(finish_reason_name(FinishReason::none), "");
}

}  // namespace stop_checker_test
}  // namespace kvscope
