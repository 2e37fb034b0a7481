// Fuzz target: the body of a completions or chat request (the first byte picks which), read as
// the server reads it. It is either refused with an ApiError (a 4xx status, a one-line message
// naming the field) or accepted as a job that keeps the server's limits: 1..max_prompts
// prompts of 1..max_prompt_tokens in-vocabulary ids, n in 1..max_n, max_tokens in
// 1..max_output_tokens, and prompt + max_tokens within the context.

#include <nlohmann/json.hpp>
#include <string>

#include "app/server/api_error.h"
#include "app/server/openai_request.h"
#include "engine/model.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

FuzzTally tally{"request_fuzz"};

const kvscope::server::RequestContext& context() {
    static const auto model = kvscope::Model::load("");
    static const kvscope::server::RequestContext c = [] {
        kvscope::server::RequestContext ctx;
        ctx.model = model.get();
        ctx.served_model_name = "stories";
        ctx.max_model_len = 256;
        ctx.limits.max_prompt_tokens = 100;
        ctx.limits.max_n = 4;
        ctx.limits.max_output_tokens = 200;
        ctx.limits.max_prompts = 8;
        return ctx;
    }();
    return c;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kvscope::server;
    if (size == 0) return 0;
    const RequestContext& c = context();
    const bool chat = (data[0] & 1) != 0;
    const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        const nlohmann::json json = parse_json_body(body);
        const CompletionJob job = chat ? parse_chat_request(json, c) : parse_completion_request(json, c);
        FUZZ_CHECK(!job.prompts.empty() && job.prompts.size() <= static_cast<std::size_t>(c.limits.max_prompts));
        for (const auto& prompt : job.prompts) {
            FUZZ_CHECK(!prompt.empty() && prompt.size() <= static_cast<std::size_t>(c.limits.max_prompt_tokens));
            FUZZ_CHECK(prompt.size() + static_cast<std::size_t>(job.params.max_tokens) <=
                       static_cast<std::size_t>(c.max_model_len));
            for (std::int32_t id : prompt) FUZZ_CHECK(id >= 0 && id < c.model->shape().vocab_size);
        }
        FUZZ_CHECK(job.params.n >= 1 && job.params.n <= c.limits.max_n);
        FUZZ_CHECK(job.params.max_tokens >= 1 && job.params.max_tokens <= c.limits.max_output_tokens);
        // What the server would send back for it must serialise.
        FUZZ_CHECK(!dump_json(nlohmann::json(job.prompt_texts)).empty());
        ++tally.accepted;
    } catch (const ApiError& e) {
        FUZZ_CHECK(e.status() >= 400 && e.status() < 500);
        const std::string msg = e.what();
        FUZZ_CHECK(!msg.empty() && msg.find('\n') == std::string::npos);
        FUZZ_CHECK(!dump_json(e.to_json()).empty());
        ++tally.refused;
    }
    return 0;
}
