#pragma once
// The workbench's load for benchmarks: an engine on the embedded model with the batch panel's
// default synthetic workload (400 requests here, all arriving at once) queued.

#include <memory>

#include "engine/engine.h"
#include "engine/model.h"
#include "engine/workload.h"

namespace kvscope::bench {

inline std::shared_ptr<const Model> embedded_model() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

// An engine with `num_blocks` KV blocks (one CPU thread) and the 400 requests queued.
inline std::unique_ptr<Engine> batch_engine(std::int32_t num_blocks) {
    EngineConfig config;
    config.num_kv_blocks = num_blocks;
    config.num_threads = 1;
    auto engine = std::make_unique<Engine>(embedded_model(), config);
    WorkloadSpec spec;
    spec.num_requests = 400;
    spec.prompt_len = LengthDistribution::parse("uniform:160-256", "prompt length");
    spec.output_len = LengthDistribution::parse("uniform:32-128", "output length");
    spec.shared_prefix_fraction = 0.6;
    spec.seed = 1;
    const Tokenizer& tokenizer = embedded_model()->tokenizer();
    for (WorkloadRequest& w : generate_workload(spec, tokenizer.vocab_size(), 3, tokenizer.bos_id())) {
        Request r;
        r.prompt_token_ids = std::move(w.prompt_token_ids);
        r.params.max_tokens = w.max_tokens;
        r.params.ignore_eos = true;
        r.params.temperature = 0.8;
        r.params.seed = 1000003ull + std::uint64_t(w.index);
        engine->add_request(std::move(r));
    }
    return engine;
}

// The engine above after `steps` steps: requests running, finished ones' blocks cached.
inline std::unique_ptr<Engine> engine_mid_batch(std::int32_t num_blocks, int steps = 200) {
    std::unique_ptr<Engine> engine = batch_engine(num_blocks);
    for (int i = 0; i < steps && engine->has_work(); ++i) engine->step();
    return engine;
}

}  // namespace kvscope::bench
