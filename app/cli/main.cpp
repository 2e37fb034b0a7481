// kvscope-cli: the headless face of the engine (generate, info, make-model, ...).

#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/cli/args.h"
#include "app/cli/commands.h"
#include "engine/atomic_file.h"
#include "engine/error.h"

namespace {

struct Command {
    const char* name;
    const char* summary;
    int (*run)(const std::vector<std::string>&);
};

constexpr Command kCommands[] = {
    {"generate", "generate text for one or more prompts through the paged engine", kvscope::cli::run_generate},
    {"info", "print a model's metadata and tensor table", kvscope::cli::run_info},
    {"make-model", "write a synthetic GGUF model with random weights (for benchmarks)", kvscope::cli::run_make_model},
    {"quantize", "write a GGUF model again with its weights re-quantised (f16, q8_0, K-quants, q4_0)",
     kvscope::cli::run_quantize},
    {"perplexity", "measure a model's perplexity over a text file (as llama-perplexity)", kvscope::cli::run_perplexity},
    {"make-lora", "write a synthetic LoRA adapter (random A and B) for a base model", kvscope::cli::run_make_lora},
    {"make-trace", "write a synthetic workload trace (JSONL) for the memory lab", kvscope::cli::run_make_trace},
    {"lab", "replay a trace under several KV allocators: where the memory goes", kvscope::cli::run_lab},
    {"serve", "serve a model over an OpenAI-compatible HTTP API", kvscope::cli::run_serve},
    {"bench", "benchmarks: latency, batched, throughput, roofline, serve (see bench --help)", kvscope::cli::run_bench},
};

void print_usage(std::FILE* out) {
    std::fprintf(out, "usage: kvscope-cli <command> [options]\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.summary);
    std::fprintf(out, "\nRun 'kvscope-cli <command> --help' for the options of a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        print_usage(stdout);
        return 0;
    }
    const std::vector<std::string> args(argv + 2, argv + argc);
    kvscope::remove_temporary_files_on_termination();  // Ctrl-C while writing leaves no .tmp- file
    for (const Command& c : kCommands) {
        if (name != c.name) continue;
        try {
            return c.run(args);
        } catch (const kvscope::cli::UsageError& e) {
            std::fprintf(stderr, "kvscope-cli %s: %s\n", c.name, e.what());
            return 2;
        } catch (const kvscope::Error& e) {
            std::fprintf(stderr, "kvscope-cli %s: error: %s\n", c.name, e.what());
            return 1;
        } catch (const std::bad_alloc&) {
            std::fprintf(stderr, "kvscope-cli %s: error: out of memory; use a smaller model or cache\n", c.name);
            return 1;
        } catch (const std::exception& e) {  // a failure no check above foresaw: still a message, not an abort
            std::fprintf(stderr, "kvscope-cli %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "kvscope-cli: unknown command '%s'\n\n", name.c_str());
    print_usage(stderr);
    return 2;
}
