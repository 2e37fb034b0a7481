// The server-sent events reader: the same events whatever the chunking of the bytes, CR LF and
// LF line ends, comments, multi-line data and fields other than data.

#include "app/server/sse_parser.h"

#include <gtest/gtest.h>

namespace kvscope::server {
namespace sse_parser_test {

std::vector<std::string> parse_in_chunks(const std::string& text, std::size_t chunk) {
    SseParser parser;
    std::vector<std::string> events;
    for (std::size_t i = 0; i < text.size(); i += chunk) parser.feed(std::string_view(text).substr(i, chunk), events);
    return events;
}

TEST(SseParser, SameEventsForEveryChunking) {
    const std::string text =
        "data: {\"a\": 1}\n\n"
        ": a comment, as a keep-alive\n"
        "data: {\"b\": 2}\r\n\r\n"
        "event: update\nid: 7\ndata: line one\ndata: line two\n\n"
        "data:no-space\n\n"
        "data: [DONE]\n\n";
    const std::vector<std::string> expected = {"{\"a\": 1}", "{\"b\": 2}", "line one\nline two", "no-space", "[DONE]"};
    for (std::size_t chunk = 1; chunk <= text.size(); ++chunk)
        EXPECT_EQ(parse_in_chunks(text, chunk), expected) << chunk;
}

TEST(SseParser, AnUnfinishedEventWaitsForItsBlankLine) {
    SseParser parser;
    std::vector<std::string> events;
    parser.feed("data: x\n", events);
    EXPECT_TRUE(events.empty());
    parser.feed("\r", events);  // maybe the start of CR LF
    EXPECT_TRUE(events.empty());
    parser.feed("\n", events);
    EXPECT_EQ(events, std::vector<std::string>{"x"});
    parser.feed("\n\n", events);  // blank lines without data make no event
    EXPECT_EQ(events.size(), 1u);
}

}  // namespace sse_parser_test
}  // namespace kvscope::server
