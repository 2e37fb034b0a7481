#include "app/server/stream_router.h"

#include <algorithm>

#include "engine/error.h"

namespace kvscope::server {

std::vector<AcceptedRequest> StreamRouter::accept(Engine& engine, const std::shared_ptr<RequestStream>& stream) {
    std::vector<Request> requests = stream->take_requests();
    if (stream->cancelled()) {
        stream->reject("the client went away before the request started");
        return {};
    }
    std::vector<AcceptedRequest> added;
    for (std::size_t i = 0; i < requests.size(); ++i) {
        Route route{stream, i, requests[i].params.n, requests[i].params.max_tokens, {}};
        route.sample_tokens.assign(static_cast<std::size_t>(route.n), 0);
        const auto num_prompt_tokens = static_cast<std::int32_t>(requests[i].prompt_token_ids.size());
        try {
            const RequestId id = engine.add_request(std::move(requests[i]));
            added.push_back({id, num_prompt_tokens, route.n});
            routes_.emplace(id, std::move(route));
        } catch (const ConfigError& e) {
            for (const AcceptedRequest& a : added) {
                engine.abort(a.id);
                routes_.erase(a.id);
            }
            stream->reject(requests.size() > 1 ? "prompt " + std::to_string(i) + ": " + e.what() : e.what());
            return {};
        }
    }
    std::vector<RequestId> ids;
    for (const AcceptedRequest& a : added) ids.push_back(a.id);
    stream->accept(std::move(ids));
    return added;
}

void StreamRouter::cancel(Engine& engine, const std::shared_ptr<RequestStream>& stream) {
    stream->mark_cancelled();
    std::vector<RequestId> ids;
    for (const auto& [id, route] : routes_) {
        if (route.stream == stream) ids.push_back(id);
    }
    // The abort notices come out of the next step() and reach the stream like any output.
    for (RequestId id : ids) engine.abort(id);
}

std::vector<RequestOutput> StreamRouter::route(std::vector<RequestOutput> outputs) {
    std::vector<RequestOutput> unknown;
    for (RequestOutput& out : outputs) {
        auto it = routes_.find(out.id);
        if (it == routes_.end()) {
            unknown.push_back(std::move(out));
            continue;
        }
        Route& route = it->second;
        for (const SequenceOutput& s : out.samples) {
            if (s.index >= 0 && static_cast<std::size_t>(s.index) < route.sample_tokens.size()) {
                route.sample_tokens[static_cast<std::size_t>(s.index)] +=
                    static_cast<std::int32_t>(s.new_token_ids.size());
            }
        }
        const bool finished = out.finished;
        if (finished) {
            const std::int32_t longest = *std::max_element(route.sample_tokens.begin(), route.sample_tokens.end());
            metrics_.observe(out.timings, route.n, route.max_tokens, longest);
        }
        route.stream->push(route.prompt_index, std::move(out));
        if (finished) routes_.erase(it);
    }
    return unknown;
}

void StreamRouter::close_all(Engine& engine, const std::string& message) {
    for (const auto& [id, route] : routes_) {
        engine.abort(id);
        route.stream->close(message);
    }
    routes_.clear();
}

ServingState StreamRouter::state(const Engine& engine) const {
    ServingState state{engine.snapshot(), metrics_, {}};
    for (const auto& [id, route] : routes_) {
        const std::string& label = route.stream->label();
        state.labels.emplace(
            id, route.stream->num_requests() > 1 ? label + "-" + std::to_string(route.prompt_index) : label);
    }
    return state;
}

}  // namespace kvscope::server
