// kvscope-cli make-trace: a synthetic workload trace for the memory lab (engine/workload.h).

#include <cmath>
#include <cstdio>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/lab_options.h"
#include "app/cli/output_path.h"
#include "engine/model.h"
#include "engine/trace_io.h"

namespace kvscope::cli {
namespace {

// Length distributions that resemble public chat datasets: the means are the ones the
// PagedAttention paper reports for them (its Fig. 11, ShareGPT: 161.31 prompt and 337.99 output
// tokens; Alpaca: 19.31 and 58.45); the lognormal spreads are our choice, for long tails.
struct Preset {
    const char* name;
    const char* prompt_len;
    const char* output_len;
};
constexpr Preset kPresets[] = {
    {"sharegpt", "lognormal:161.31,1.0", "lognormal:337.99,0.8"},
    {"alpaca", "lognormal:19.31,0.6", "lognormal:58.45,0.9"},
};

const Preset& find_preset(const std::string& name) {
    for (const Preset& p : kPresets) {
        if (name == p.name) return p;
    }
    throw UsageError("--preset: unknown preset '" + name + "'; use sharegpt or alpaca");
}

std::vector<OptionSpec> make_trace_options() {
    return {
        {"out", "FILE", "where to write the trace (required)"},
        {"preset", "NAME", "length distributions like a chat dataset: sharegpt or alpaca"},
        {"num-requests", "N", "requests (default 1000)"},
        {"prompt-len", "DIST", "prompt lengths: 128, uniform:32-512, normal:256,64 or lognormal:161,1.0 (default 128)"},
        {"output-len", "DIST", "output lengths, as --prompt-len (default 128)"},
        {"request-rate", "R", "Poisson arrivals at R requests per second (default: all at once)"},
        {"shared-prefix", "F", "fraction of the shortest prompt that every prompt shares (default 0)"},
        {"n", "N", "samples per request (default 1)"},
        {"seed", "S", "random seed (default 0)"},
        {"max-model-len", "N",
         "context of the requests: prompts are cut to half of it, outputs to the rest (default: the --model's "
         "context, else 2048)"},
        {"model", "PATH", "draw token ids from this model's vocabulary and note its KV bytes per token"},
        {"cache-dtype", "TYPE", "KV element type for the bytes per token with --model (default f32)"}};
}

// As vLLM's benchmark filters ShareGPT: prompts of at most half the context, outputs of at most
// the rest.
void cut_to_context(std::vector<WorkloadRequest>& workload, std::int32_t max_model_len) {
    for (WorkloadRequest& r : workload) {
        if (static_cast<std::int32_t>(r.prompt_token_ids.size()) > max_model_len / 2) {
            r.prompt_token_ids.resize(static_cast<std::size_t>(max_model_len / 2));
        }
        r.max_tokens = std::min(r.max_tokens, max_model_len - static_cast<std::int32_t>(r.prompt_token_ids.size()));
    }
}

}  // namespace

int run_make_trace(const std::vector<std::string>& args) {
    const ArgParser parser("make-trace", "Write a synthetic workload trace (JSONL) for 'kvscope-cli lab'.",
                           make_trace_options());
    const std::optional<ParsedArgs> parsed = parser.parse_or_help(args);
    if (!parsed) return 0;
    const ParsedArgs& a = *parsed;
    const std::optional<std::string> out = output_path(a, "out", "the trace", {a.string("model").value_or("")});
    if (!out) throw UsageError("--out FILE is required");

    WorkloadSpec spec;
    spec.num_requests = static_cast<std::int32_t>(a.integer("num-requests", 1000, 1, 1 << 24));
    std::string prompt_len = "128", output_len = "128";
    if (auto preset = a.string("preset")) {
        prompt_len = find_preset(*preset).prompt_len;
        output_len = find_preset(*preset).output_len;
    }
    spec.prompt_len = LengthDistribution::parse(a.string("prompt-len").value_or(prompt_len), "--prompt-len");
    spec.output_len = LengthDistribution::parse(a.string("output-len").value_or(output_len), "--output-len");
    spec.request_rate = a.number("request-rate", spec.request_rate, 1e-9, INFINITY);
    spec.shared_prefix_fraction = a.number("shared-prefix", 0, 0, 1);
    spec.seed = static_cast<std::uint64_t>(a.integer("seed", 0, 0, INT64_MAX));
    const auto n = static_cast<std::int32_t>(a.integer("n", 1, 1, 1 << 16));
    std::int32_t max_model_len = 2048;  // or the --model's context, or --max-model-len

    TraceHeader header;
    std::int32_t vocab = 32000, first_token = 3, bos = 1;
    if (a.has("model")) {
        const std::shared_ptr<const Model> model = load_model_from_args(a);
        vocab = model->shape().vocab_size;
        bos = model->tokenizer().bos_id();
        first_token = std::min(3, vocab - 1);
        header.model = model->config().name;
        header.kv_bytes_per_token = kv_bytes_per_token(*model, a);
        max_model_len = model->shape().max_context;
    }
    max_model_len = static_cast<std::int32_t>(a.integer("max-model-len", max_model_len, 4, 1 << 24));
    std::vector<WorkloadRequest> workload = generate_workload(spec, vocab, first_token, bos);
    cut_to_context(workload, max_model_len);
    Trace trace = trace_from_workload(workload, n);
    header.source = "kvscope-cli make-trace";
    for (const std::string& arg : args) header.source += " " + arg;
    header.max_model_len = max_model_len;
    trace.header = header;
    write_trace(trace, *out);

    std::int64_t prompt = 0, output = 0;
    for (const TraceRequest& r : trace.requests) {
        prompt += r.prompt_len;
        output += r.num_output_tokens();
    }
    std::fprintf(stderr, "kvscope: wrote %s: %d requests, mean prompt %.1f, mean output %.1f tokens\n", out->c_str(),
                 spec.num_requests, double(prompt) / spec.num_requests, double(output) / spec.num_requests / n);
    return 0;
}

}  // namespace kvscope::cli
