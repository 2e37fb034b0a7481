#pragma once
// X-Kvscope-Request-Ids: a kvscope server's extension to the OpenAI API. Every completion's
// response (streamed or whole, chat or not) carries, in this header, the engine's ids of the
// requests serving it, one per prompt in prompt order, comma-separated: the ids GET /v1/kv/snapshot
// shows, so that an attached workbench finds a request's block table. Other servers send none.

#include <optional>
#include <string>
#include <vector>

#include "engine/request.h"

namespace kvscope::server {

inline constexpr const char* kRequestIdsHeader = "X-Kvscope-Request-Ids";

std::string format_request_ids(const std::vector<RequestId>& ids);
// The ids of a header's value; nullopt when it is not a comma-separated list of non-negative ids.
std::optional<std::vector<RequestId>> parse_request_ids(const std::string& value);

}  // namespace kvscope::server
