// The steady-state decode step allocates nothing and starts no thread. Global operator new is
// replaced by a counting one; a Backend wrapper turns counting on around the forward pass of
// every engine step, on every thread (the pool's workers included). After warm-up (the scratch
// grows to the batch once), decode steps of the Engine must leave the count at zero, for the
// F32 path (the embedded model) and the packed Q4_0 path (a synthetic model), with and without
// LoRA adapters mixed in the batch. The thread count
// of the process must not change over the steps either. (The engine's bookkeeping around the
// forward pass returns its news as RequestOutput values, which allocate per sequence per step;
// that is the API's choice and is not counted here.)

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <new>

#include "engine/engine.h"
#include "engine/synthetic_lora.h"
#include "engine/synthetic_model.h"
#include "tests/support/paths.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<long> g_allocations{0};

void* counted_alloc(std::size_t size, std::size_t align) {
    if (g_counting.load(std::memory_order_relaxed)) g_allocations.fetch_add(1, std::memory_order_relaxed);
    void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (size + align - 1) / align * align)
                                                : std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

}  // namespace

void* operator new(std::size_t size) {
    return counted_alloc(size, 0);
}
void* operator new[](std::size_t size) {
    return counted_alloc(size, 0);
}
void* operator new(std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void* operator new[](std::size_t size, std::align_val_t align) {
    return counted_alloc(size, static_cast<std::size_t>(align));
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept {
    std::free(p);
}

namespace kvscope {
namespace {

// Counts allocations made anywhere while the wrapped backend runs a step.
class CountingBackend final : public Backend {
public:
    explicit CountingBackend(std::unique_ptr<Backend> inner) : inner_(std::move(inner)) {}
    std::string name() const override { return inner_->name(); }
    const ModelShape& shape() const override { return inner_->shape(); }
    const KvCacheSpec& kv_spec() const override { return inner_->kv_spec(); }
    void forward(const ForwardBatch& batch, std::span<float> logits) override {
        const bool outer = g_counting.exchange(true);
        inner_->forward(batch, logits);
        g_counting = outer;
        last_num_tokens = batch.num_tokens();
    }
    void copy_blocks(std::span<const BlockCopy> copies) override { inner_->copy_blocks(copies); }
    bool supports_lora() const override { return inner_->supports_lora(); }
    void add_lora(const LoraWeights& weights) override { inner_->add_lora(weights); }
    void remove_lora(std::int32_t slot) override { inner_->remove_lora(slot); }

    std::int32_t last_num_tokens = 0;

private:
    std::unique_ptr<Backend> inner_;
};

int num_threads_of_process() {
    int n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/task")) ++n;
    return n;
}

// `loras`: adapters added to the engine, used by the requests in turn with the base model.
void expect_allocation_free_decode(const std::shared_ptr<const Model>& model,
                                   const std::vector<std::shared_ptr<const LoraAdapter>>& loras = {}) {
    EngineConfig config;
    config.num_threads = 2;
    config.num_kv_blocks = 64;
    const CachePlan plan = plan_cache(config, model->shape());
    auto counting = std::make_unique<CountingBackend>(make_cpu_backend(
        model->shape(), model->weights(), KvCacheSpec{plan.num_blocks, config.block_size, config.cache_dtype},
        CpuBackendOptions{config.num_threads}));
    CountingBackend* backend = counting.get();
    Engine engine(model, config, std::move(counting));
    for (std::size_t i = 0; i < loras.size(); ++i) engine.add_lora("lora" + std::to_string(i), loras[i]);
    for (int i = 0; i < 4; ++i) {
        Request r;
        const std::size_t pick = static_cast<std::size_t>(i) % (loras.size() + 1);
        if (pick > 0) r.lora = "lora" + std::to_string(pick - 1);
        r.prompt_token_ids = {1, 50 + i, 60, 70 + 2 * i, 80};
        r.params.max_tokens = 40;
        r.params.ignore_eos = true;
        r.params.temperature = 0;
        engine.add_request(std::move(r));
    }
    // prefill, then warm-up decodes (the scratch has grown to the prefill's size already)
    for (int s = 0; s < 4; ++s) engine.step();
    ASSERT_EQ(backend->last_num_tokens, 4);  // every step now decodes the 4 sequences
    const int threads_before = num_threads_of_process();
    g_allocations = 0;
    for (int s = 0; s < 20; ++s) {
        engine.step();
        ASSERT_EQ(backend->last_num_tokens, 4);
    }
    EXPECT_EQ(g_allocations.load(), 0) << "allocations in 20 decode steps' forward passes";

    EXPECT_EQ(num_threads_of_process(), threads_before);
}

TEST(DecodeAllocations, ForwardPassOfDecodeStepsAllocatesNothingF32) {
    expect_allocation_free_decode(Model::load("embedded:stories260K"));
}

TEST(DecodeAllocations, ForwardPassOfDecodeStepsAllocatesNothingPackedQ4_0) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.weight_type = TensorType::Q4_0;
    const auto path = test::temp_dir() / "tiny-q4_0.gguf";
    write_synthetic_model(spec, path.string());
    expect_allocation_free_decode(Model::load(path.string()));
}

TEST(DecodeAllocations, ForwardPassOfMixedLoraDecodeStepsAllocatesNothing) {
    SyntheticModelSpec spec = synthetic_preset("tiny");
    spec.weight_type = TensorType::Q4_0;
    const auto dir = test::temp_dir();
    write_synthetic_model(spec, (dir / "tiny-q4_0.gguf").string());
    const auto model = Model::load((dir / "tiny-q4_0.gguf").string());
    std::vector<std::shared_ptr<const LoraAdapter>> loras;
    for (std::uint64_t seed : {1, 2}) {
        SyntheticLoraSpec lora;
        lora.seed = seed;
        lora.rank = seed == 1 ? 16 : 8;
        lora.targets = {LoraTarget::Q, LoraTarget::K, LoraTarget::V,   LoraTarget::O,
                        LoraTarget::Gate, LoraTarget::Up, LoraTarget::Down};
        const auto path = dir / ("lora" + std::to_string(seed) + ".gguf");
        write_synthetic_lora(lora, model->gguf(), path.string());
        loras.push_back(LoraAdapter::load(path.string(), *model));
    }
    expect_allocation_free_decode(model, loras);
}

TEST(DecodeAllocations, CounterSeesAllocations) {
    // the oracle can fail: an allocation while counting is seen
    g_allocations = 0;
    g_counting = true;
    auto* p = new std::vector<int>(100);
    g_counting = false;
    delete p;
    EXPECT_EQ(g_allocations.load(), 2);
}

}  // namespace
}  // namespace kvscope
