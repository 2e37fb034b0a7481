#include "engine/rng.h"

#include <atomic>
#include <chrono>
#include <random>

#include "kernels/check.h"

namespace kvscope {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ull;

uint64_t initial_process_seed() {
    std::random_device device;
    const uint64_t entropy = (static_cast<uint64_t>(device()) << 32) ^ device();
    const auto now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return entropy ^ now;
}

// The one piece of process-wide mutable state in the sampler: a splitmix64 counter.
std::atomic<uint64_t>& process_seed_counter() {
    static std::atomic<uint64_t> counter{initial_process_seed()};
    return counter;
}

}  // namespace

SequenceRandom::SequenceRandom(uint64_t seed, uint64_t stream) {
    uint64_t seed_state = seed;
    // A different starting point than the seed's, so that (a, b) and (b, a) differ.
    uint64_t stream_state = stream ^ 0xD1B54A32D192ED03ull;
    for (auto& word : s_) {
        const uint64_t stream_word = splitmix64_next(stream_state);
        word = splitmix64_next(seed_state) ^ rotl(stream_word, 32);
    }
    if (s_[0] == 0 && s_[1] == 0 && s_[2] == 0 && s_[3] == 0) s_[0] = kGolden;  // xoshiro's one bad state
}

SequenceRandom SequenceRandom::from_state(const std::array<uint64_t, 4>& state) {
    KV_CHECK(state[0] != 0 || state[1] != 0 || state[2] != 0 || state[3] != 0);
    SequenceRandom random;
    random.s_ = state;
    return random;
}

uint64_t draw_process_seed() {
    uint64_t state = process_seed_counter().fetch_add(kGolden, std::memory_order_relaxed);
    return splitmix64_next(state);
}

void reset_process_seed(uint64_t seed) {
    process_seed_counter().store(seed, std::memory_order_relaxed);
}

}  // namespace kvscope
