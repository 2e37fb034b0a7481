#pragma once
// Runs one request alone on an engine to its end: the tests' way of asking what a request gives
// with nothing else in the batch.

#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "engine/request.h"

namespace kvscope::test {

// Every token id `request` generated on `engine` (all samples, in order).
inline std::vector<std::int32_t> run_alone(Engine& engine, const Request& request) {
    engine.add_request(request);
    std::vector<std::int32_t> out;
    while (engine.has_work()) {
        for (const RequestOutput& o : engine.step()) {
            for (const SequenceOutput& s : o.samples)
                out.insert(out.end(), s.new_token_ids.begin(), s.new_token_ids.end());
        }
    }
    return out;
}

}  // namespace kvscope::test
