// kvscope-cli generate: every prompt through the paged engine as one continuous batch.

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "app/cli/engine_options.h"
#include "app/cli/lab_options.h"
#include "app/cli/lora_options.h"
#include "app/cli/output_path.h"
#include "app/server/json_fields.h"
#include "engine/engine.h"
#include "engine/error.h"
#include "engine/trace_io.h"

namespace kvscope::cli {
namespace {

struct PromptJob {
    std::string prompt;
    std::vector<std::int32_t> prompt_token_ids;
    SamplingParams params;
    std::int32_t priority = 0;
    std::string lora;  // adapter name, empty: the base model
};

struct SampleResultText {
    std::vector<std::int32_t> token_ids;
    std::string text;
    FinishReason finish = FinishReason::none;
    std::vector<SampleResult> logprobs;
};

struct JobResult {
    std::vector<SampleResultText> samples;
    std::vector<SampleResult> prompt_logprobs;  // entry i scores prompt token i + 1
    RequestTimings timings;
    bool finished = false;
    std::string error;  // the engine ended it (RequestOutput::error)
};

// Reads {"prompt": ..., optional sampling overrides} per line.
std::vector<PromptJob> read_prompts_file(const std::string& path, const SamplingParams& defaults) {
    static const std::set<std::string> kFields = [] {
        std::set<std::string> fields = {"prompt", "priority", "lora"};
        fields.insert(std::begin(kSamplingJsonFields), std::end(kSamplingJsonFields));
        return fields;
    }();
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
        throw FileError(path + ": is a directory, not a prompts file; give a JSONL file");
    }
    std::ifstream in(path);
    if (!in) throw FileError(path + ": cannot open the prompts file; check the path");
    std::vector<PromptJob> jobs;
    std::string line;
    for (int number = 1; std::getline(in, line); ++number) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        const std::string where = path + ":" + std::to_string(number) + ": ";
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(line);
        } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for 1e400
            throw FileError(where + "not valid JSON (" + e.what() + "); each line must be {\"prompt\": \"...\"}");
        }
        if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string()) {
            throw FileError(where + "each line must be a JSON object with a string \"prompt\"");
        }
        for (const auto& [key, value] : j.items()) {
            if (!kFields.contains(key)) {
                std::string known;
                for (const std::string& k : kFields) known += (known.empty() ? "" : ", ") + k;
                throw FileError(where + "unknown field '" + key + "'; the fields are " + known);
            }
        }
        PromptJob job;
        job.prompt = j["prompt"].get<std::string>();
        job.params = defaults;
        try {
            apply_sampling_json(j, job.params);
            const server::JsonFields f(j);
            if (auto v = f.integer("priority", std::numeric_limits<std::int32_t>::min(),
                                   std::numeric_limits<std::int32_t>::max())) {
                job.priority = static_cast<std::int32_t>(*v);
            }
            if (auto v = f.string("lora")) job.lora = *v;
            job.params.validate(std::numeric_limits<std::int32_t>::max());  // ranges now; the vocabulary later
        } catch (const std::exception& e) {  // ApiError (a field's type or range), ConfigError (a value)
            throw FileError(where + e.what());
        }
        jobs.push_back(std::move(job));
    }
    return jobs;
}

nlohmann::json timings_json(const RequestTimings& t) {
    const double decode_tps =
        t.decode_time > 0 && t.num_generation_tokens > 1 ? double(t.num_generation_tokens - 1) / t.decode_time : 0.0;
    return {{"queue_s", t.queue_time},
            {"ttft_s", t.time_to_first_token},
            {"prefill_s", t.prefill_time},
            {"decode_s", t.decode_time},
            {"e2e_s", t.e2e_latency},
            {"prompt_tokens", t.num_prompt_tokens},
            {"cached_prompt_tokens", t.num_cached_tokens},
            {"generated_tokens", t.num_generation_tokens},
            {"preemptions", t.num_preemptions},
            {"decode_tokens_per_s", decode_tps}};
}

nlohmann::json logprobs_json(const std::vector<SampleResult>& results) {
    nlohmann::json out = nlohmann::json::array();
    for (const SampleResult& r : results) {
        nlohmann::json top = nlohmann::json::array();
        for (const TokenLogprob& t : r.top()) top.push_back({{"token", t.token}, {"logprob", t.logprob}});
        out.push_back({{"token", r.token}, {"logprob", r.logprob}, {"rank", r.rank}, {"top", top}});
    }
    return out;
}

nlohmann::json result_json(const PromptJob& job, const JobResult& result) {
    const SampleResultText& first = result.samples.front();
    nlohmann::json j = {{"prompt", job.prompt},
                        {"prompt_token_ids", job.prompt_token_ids},
                        {"token_ids", first.token_ids},
                        {"text", first.text},
                        {"finish_reason", finish_reason_name(first.finish)},
                        {"lora", job.lora},
                        {"timings", timings_json(result.timings)}};
    if (!result.error.empty()) j["error"] = result.error;
    if (job.params.logprobs) j["logprobs"] = logprobs_json(first.logprobs);
    if (job.params.prompt_logprobs) j["prompt_logprobs"] = logprobs_json(result.prompt_logprobs);
    if (result.samples.size() > 1) {
        nlohmann::json samples = nlohmann::json::array();
        for (std::size_t i = 0; i < result.samples.size(); ++i) {
            const SampleResultText& s = result.samples[i];
            nlohmann::json sj = {{"index", i},
                                 {"token_ids", s.token_ids},
                                 {"text", s.text},
                                 {"finish_reason", finish_reason_name(s.finish)}};
            if (job.params.logprobs) sj["logprobs"] = logprobs_json(s.logprobs);
            samples.push_back(sj);
        }
        j["samples"] = samples;
    }
    return j;
}

std::string dump(const nlohmann::json& j) {
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

int run_generate(const std::vector<std::string>& args) {
    std::vector<OptionSpec> options = {
        {"prompt", "TEXT", "a prompt", true},
        {"prompts", "FILE", "a JSONL file: {\"prompt\": ...} per line (optional per-line sampling fields and \"lora\")"},
        {"json", "", "print one JSON object per request per line, in prompt order"},
        {"adapter", "NAME", "run the --prompt prompts with the LoRA adapter NAME (from --lora; default: none)"},
        {"trace-out", "FILE", "write the batch's trace (prompts, output lengths) for 'kvscope-cli lab'"},
    };
    append_model_options(options);
    append_sampling_options(options);
    append_engine_options(options);
    append_lora_options(options);
    const ArgParser parser("generate", "Generate text for every prompt through the paged engine, as one batch.",
                           options);
    if (ArgParser::wants_help(args)) {
        std::cout << parser.help();
        return 0;
    }
    const ParsedArgs a = parser.parse(args);
    const SamplingParams defaults = sampling_params_from_args(a);
    for (const char* option : {"logprobs", "prompt-logprobs"}) {
        if (a.has(option) && !a.has("json")) {  // the text output has nowhere to show them
            throw UsageError(std::string("--") + option + " is reported in the JSON output; add --json");
        }
    }
    const EngineConfig config = engine_config_from_args(a);

    std::vector<PromptJob> jobs;
    const std::string adapter = a.string("adapter").value_or("");
    for (const std::string& p : a.strings("prompt")) jobs.push_back({p, {}, defaults, 0, adapter});
    if (auto file = a.string("prompts")) {
        for (PromptJob& job : read_prompts_file(*file, defaults)) jobs.push_back(std::move(job));
    }
    if (jobs.empty()) throw UsageError("no prompt: give --prompt TEXT (repeatable) or --prompts FILE.jsonl");
    const std::optional<std::string> trace_out =
        output_path(a, "trace-out", "the trace", {a.string("model").value_or(""), a.string("prompts").value_or("")});

    const std::shared_ptr<const Model> model = load_model_from_args(a);
    Engine engine(model, config);
    report_backend_note(engine);
    add_loras_from_args(a, engine);
    const bool json = a.has("json");
    if (!json) {
        std::fprintf(stderr, "kvscope: %s on %s, %d KV blocks of %d tokens (%s)\n", model->config().name.c_str(),
                     engine.backend_name().c_str(), engine.cache_plan().num_blocks, config.block_size,
                     std::string(type_name(config.cache_dtype)).c_str());
    }

    if (trace_out) engine.record_trace(jobs.size());
    std::map<RequestId, std::size_t> job_of;
    std::vector<JobResult> results(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        PromptJob& job = jobs[i];
        job.prompt_token_ids = model->tokenizer().encode(job.prompt, /*add_special=*/true, /*parse_special=*/true);
        Request request;
        request.prompt_token_ids = job.prompt_token_ids;
        request.params = job.params;
        request.priority = job.priority;
        request.lora = job.lora;
        try {
            job_of[engine.add_request(std::move(request))] = i;
        } catch (const ConfigError& e) {
            throw ConfigError("prompt " + std::to_string(i + 1) + ": " + e.what());
        }
        results[i].samples.resize(static_cast<std::size_t>(job.params.n));
    }

    // Run the batch; print results in prompt order as soon as each and all before it are done.
    const bool stream = !json && jobs.size() == 1 && jobs[0].params.n == 1;
    if (stream) std::fputs(jobs[0].prompt.c_str(), stdout);
    std::size_t next_to_print = 0;
    std::size_t num_failed = 0;
    const auto started = std::chrono::steady_clock::now();
    std::int64_t generated = 0;
    while (engine.has_work()) {
        for (RequestOutput& out : engine.step()) {
            JobResult& r = results[job_of.at(out.id)];
            r.prompt_logprobs.insert(r.prompt_logprobs.end(), out.prompt_logprobs.begin(), out.prompt_logprobs.end());
            for (SequenceOutput& s : out.samples) {
                SampleResultText& sample = r.samples[static_cast<std::size_t>(s.index)];
                sample.token_ids.insert(sample.token_ids.end(), s.new_token_ids.begin(), s.new_token_ids.end());
                sample.text += s.text_delta;
                sample.logprobs.insert(sample.logprobs.end(), s.logprobs.begin(), s.logprobs.end());
                if (s.finished()) sample.finish = s.finish_reason;
                generated += static_cast<std::int64_t>(s.new_token_ids.size());
                if (stream) {
                    std::fputs(s.text_delta.c_str(), stdout);
                    std::fflush(stdout);
                }
            }
            if (out.finished) {
                r.finished = true;
                r.timings = out.timings;
                r.error = out.error;
            }
        }
        while (next_to_print < jobs.size() && results[next_to_print].finished) {
            const PromptJob& job = jobs[next_to_print];
            const JobResult& r = results[next_to_print];
            if (!r.error.empty()) {
                std::fprintf(stderr, "kvscope-cli generate: prompt %zu: error: %s\n", next_to_print + 1,
                             r.error.c_str());
                ++num_failed;
            }
            if (json) {
                std::printf("%s\n", dump(result_json(job, r)).c_str());
            } else if (!stream) {
                for (std::size_t i = 0; i < r.samples.size(); ++i) {
                    std::printf("--- prompt %zu%s [%s]\n%s%s\n", next_to_print + 1,
                                r.samples.size() > 1 ? (", sample " + std::to_string(i + 1)).c_str() : "",
                                std::string(finish_reason_name(r.samples[i].finish)).c_str(), job.prompt.c_str(),
                                r.samples[i].text.c_str());
                }
            }
            std::fflush(stdout);
            ++next_to_print;
        }
    }
    if (stream) std::fputs("\n", stdout);
    if (trace_out) {
        Trace trace{trace_header_of(engine, "kvscope-cli generate"), engine.take_trace()};
        const double start = trace.requests.empty() ? 0.0 : trace.requests.front().arrival_s;
        for (TraceRequest& r : trace.requests) r.arrival_s -= start;
        write_trace(trace, *trace_out);
    }
    if (!json) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        const EngineMetrics& m = engine.metrics();
        std::fprintf(stderr,
                     "kvscope: %zu requests, %lld prompt + %lld generated tokens in %.2f s (%.1f tokens/s), "
                     "%lld steps, %lld preemptions, prefix hit rate %.1f%%\n",
                     jobs.size(), static_cast<long long>(m.prompt_tokens), static_cast<long long>(generated), elapsed,
                     elapsed > 0 ? double(generated) / elapsed : 0.0, static_cast<long long>(m.num_steps),
                     static_cast<long long>(m.num_preemptions), 100.0 * m.prefix_cache_hit_rate());
    }
    return num_failed == 0 ? 0 : 1;  // the others were printed in full
}

}  // namespace kvscope::cli
