#pragma once
// A fuzz target: one function that takes any bytes and must neither crash nor break an invariant.
// Each tests/fuzz/*_fuzz.cpp defines LLVMFuzzerTestOneInput, so the same file builds with
// clang's libFuzzer (-DKVSCOPE_LIBFUZZER=ON, scripts/fuzz.sh) or with fuzz_driver.cpp, the portable driver ctest runs.
// A broken invariant prints what and where, then aborts: the driver saves the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

// How many inputs a target accepted and refused, printed when the process ends (a run that only
// ever refuses tests little).
struct FuzzTally {
    const char* name;
    long long accepted = 0;
    long long refused = 0;
    ~FuzzTally() { std::fprintf(stderr, "%s: %lld accepted, %lld refused\n", name, accepted, refused); }
};

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                          \
        }                                                                                          \
    } while (0)
