#pragma once
// Random numbers for sampling, identical on every platform and compiler: xoshiro256** (Blackman &
// Vigna) seeded through splitmix64, and our own uniform01() (std distributions are
// implementation-defined, so none is used).
//
// Each sequence owns a SequenceRandom, so a request's output depends only on its seed, never on
// what else is in the batch. Sample i of a request with n samples uses SequenceRandom(seed, i).
// The sampler draws exactly one uniform01() per random (temperature > 0) token and none for a
// greedy one.

#include <array>
#include <cstdint>
#include <optional>

namespace kvscope {

// One step of splitmix64: advances `state` by the golden-ratio increment and returns its mix.
inline uint64_t splitmix64_next(uint64_t& state) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

class SequenceRandom {
public:
    // Stream `stream` (the sample index within a request) of `seed`. The 256-bit state is the XOR
    // of four splitmix64 words of `seed` and four of `stream` (rotated), so every (seed, stream)
    // pair gets its own stream.
    SequenceRandom(uint64_t seed, uint64_t stream);

    // A generator with exactly this xoshiro256** state (not all zero), for known-answer tests.
    static SequenceRandom from_state(const std::array<uint64_t, 4>& state);

    // The next 64 random bits (xoshiro256**).
    uint64_t next_u64() {
        const uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }

    // Uniform in [0, 1): the top 53 bits of next_u64() times 2^-53 (exact in a double).
    double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

    const std::array<uint64_t, 4>& state() const { return s_; }

private:
    SequenceRandom() = default;
    static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

    std::array<uint64_t, 4> s_{};
};

// The process-wide seed source for requests without a seed: a splitmix64 counter, started from
// std::random_device and the clock on first use (so unseeded requests differ between runs), and
// thread-safe (an atomic). Every call returns a new seed.
uint64_t draw_process_seed();

// Restarts the process-wide seed source at `seed`, e.g. from a CLI --seed flag, so that a run's
// unseeded requests repeat when they arrive in the same order.
void reset_process_seed(uint64_t seed);

// The request's seed, or a fresh one from the process-wide source when it has none. Call once per
// request, then give sample i SequenceRandom(request_seed, i).
inline uint64_t resolve_seed(const std::optional<uint64_t>& seed) {
    return seed ? *seed : draw_process_seed();
}

}  // namespace kvscope
