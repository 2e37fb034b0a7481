// The server addresses bench serve, perplexity --url and the workbench's attach take: what a user
// types (with or without http://, the OpenAI base path /v1, a trailing slash), and a one-line
// error for anything else (other schemes, other paths, bad ports).

#include "app/server/server_address.h"

#include <gtest/gtest.h>

namespace kvscope::server {
namespace server_address_test {

TEST(ServerAddress, TheFormsUsersTypeAreAccepted) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"http://127.0.0.1:8000", "http://127.0.0.1:8000"},
        {"127.0.0.1:8000", "http://127.0.0.1:8000"},
        {"http://localhost:8000/v1", "http://localhost:8000"},
        {"http://localhost:8000/v1/", "http://localhost:8000"},
        {" localhost:9/ ", "http://localhost:9"},
        {"http://example", "http://example:80"},
    };
    for (const auto& [typed, url] : cases) {
        std::string error;
        const auto a = parse_server_address(typed, error);
        ASSERT_TRUE(a.has_value()) << typed << ": " << error;
        EXPECT_EQ(a->url(), url) << typed;
    }
}

TEST(ServerAddress, OtherSchemesPathsAndPortsAreRefusedWithWhatToType) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"https://host:8000", "https is not supported"},
        {"ftp://host:21", "the scheme 'ftp' is not HTTP"},
        {"http://host:8000/v1/completions", "a path other than /v1"},
        {"http://host:99999", "is not a server address"},
        {"http://host:", "is not a server address"},
        {"", "is not a server address"},
    };
    for (const auto& [typed, phrase] : cases) {
        std::string error;
        EXPECT_FALSE(parse_server_address(typed, error).has_value()) << typed;
        EXPECT_NE(error.find(phrase), std::string::npos) << typed << ": " << error;
        EXPECT_NE(error.find("http://127.0.0.1:8000"), std::string::npos) << error;
        EXPECT_EQ(error.find('\n'), std::string::npos);
    }
}

}  // namespace server_address_test
}  // namespace kvscope::server
