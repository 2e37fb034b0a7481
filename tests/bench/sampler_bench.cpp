// Sampler::sample on a Qwen2-sized vocabulary (151,936 tokens), per sampling setting.

#include <benchmark/benchmark.h>

#include <vector>

#include "engine/sampler.h"

namespace kvscope {
namespace {

constexpr int32_t kVocab = 151936;

std::vector<float> bench_logits() {
    SequenceRandom random(1, 0);
    std::vector<float> logits(kVocab);
    for (auto& l : logits) {
        l = static_cast<float>(4.0 * (random.uniform01() + random.uniform01() + random.uniform01() - 1.5));
    }
    return logits;
}

void run(benchmark::State& state, const SamplingParams& params) {
    std::vector<float> logits = bench_logits();
    std::vector<int32_t> prompt(512);
    std::vector<int32_t> output(256);
    for (size_t i = 0; i < prompt.size(); ++i) prompt[i] = static_cast<int32_t>((i * 7919) % kVocab);
    for (size_t i = 0; i < output.size(); ++i) output[i] = static_cast<int32_t>((i * 104729) % kVocab);
    Sampler sampler;
    sampler.reserve(kVocab);
    SequenceRandom random(2, 0);
    for (auto _ : state) benchmark::DoNotOptimize(sampler.sample(logits, params, random, prompt, output));
}

SamplingParams with(double temperature, int32_t top_k, double top_p, double min_p) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    return p;
}

void BM_Greedy(benchmark::State& s) {
    run(s, with(0.0, 0, 1.0, 0.0));
}
void BM_Temperature(benchmark::State& s) {
    run(s, with(0.8, 0, 1.0, 0.0));
}
void BM_TopK50(benchmark::State& s) {
    run(s, with(0.8, 50, 1.0, 0.0));
}
void BM_TopP095(benchmark::State& s) {
    run(s, with(0.8, 0, 0.95, 0.0));
}
void BM_TopK50TopP09(benchmark::State& s) {
    run(s, with(0.8, 50, 0.9, 0.0));
}
void BM_MinP005(benchmark::State& s) {
    run(s, with(0.8, 0, 1.0, 0.05));
}
void BM_PenaltiesLogprobs(benchmark::State& s) {
    SamplingParams p = with(0.8, 0, 0.95, 0.0);
    p.repetition_penalty = 1.1;
    p.frequency_penalty = 0.2;
    p.logprobs = 5;
    run(s, p);
}

BENCHMARK(BM_Greedy)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Temperature)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopK50)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopP095)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TopK50TopP09)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MinP005)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_PenaltiesLogprobs)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace kvscope
