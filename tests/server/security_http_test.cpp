// The server's exposure, as reviewed for issue 10: it listens on 127.0.0.1 unless told
// otherwise, has limits on the body, prompt tokens, n and max_tokens by default (each limit's
// refusal is tested in bad_request_http_test), and no request path reaches the file system:
// there are no static mounts, so traversal attempts and paths of real files are 404s that carry
// an error object and nothing of any file.

#include <gtest/gtest.h>

#include "tests/server/test_server.h"

namespace kvscope::test {
namespace security_http_test {

TEST(Security, DefaultsListenOnLoopbackWithLimits) {
    const server::ServerOptions o;
    EXPECT_EQ(o.host, "127.0.0.1");
    EXPECT_TRUE(o.api_key.empty());
    EXPECT_GT(o.limits.max_body_bytes, 0u);
    EXPECT_LE(o.limits.max_body_bytes, std::size_t{1} << 20);
    EXPECT_GT(o.limits.max_n, 0);
    EXPECT_GT(o.limits.max_prompts, 0);
    // 0 means "the context": bounded by the model, never unbounded.
    EXPECT_GE(o.limits.max_prompt_tokens, 0);
    EXPECT_GE(o.limits.max_output_tokens, 0);
}

TEST(Security, NoPathReachesTheFileSystem) {
    TestServer server;
    auto client = server.client();
    const std::string source_file = std::string(KVSCOPE_SOURCE_DIR) + "/CMakeLists.txt";
    for (const std::string& path : std::vector<std::string>{
             "/../../../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/v1/../../etc/passwd", "/etc/passwd",
             "/v1/models/../../../../etc/passwd", "/resources/models/stories260K.gguf", "/CMakeLists.txt", "/v1/files",
             "/v1/kv/snapshot/../../../../etc/passwd", "//etc/passwd", source_file}) {
        const httplib::Result res = client->Get(path.c_str());
        ASSERT_TRUE(res) << path;
        EXPECT_TRUE(res->status == 404 || res->status == 400) << path << " -> " << res->status;
        EXPECT_EQ(res->body.find("root:"), std::string::npos) << path;
        EXPECT_EQ(res->body.find("cmake_minimum_required"), std::string::npos) << path;
        EXPECT_EQ(res->body.find("GGUF"), std::string::npos) << path;
    }
    // A prompt that names a file is only text.
    const HttpReply r = post_json(*client, "/v1/completions",
                                  {{"prompt", "/etc/passwd"}, {"max_tokens", 2}, {"return_token_ids", true}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.text.find("root:"), std::string::npos);
}

}  // namespace security_http_test
}  // namespace kvscope::test
