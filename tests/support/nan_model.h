#pragma once
// The embedded stories260K with one token's embedding poisoned by a NaN: any sequence that holds
// that token gets NaN logits, the others are untouched. For the tests of what the engine, the
// server and the front ends do when the model fails on one request.

#include <cstdint>
#include <memory>

#include "engine/model.h"

namespace kvscope::test {

// One model per token, kept for the life of the process (a Model maps the bytes it is read from).
std::shared_ptr<const Model> model_with_a_nan_token(std::int32_t token);

}  // namespace kvscope::test
