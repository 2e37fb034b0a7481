#pragma once
// What the CUDA kernels share with the host: function qualifiers, 16-bit float conversions, and
// the execution model the kernel bodies are written against.
//
// Every kernel of kernels/cuda is a *body*: a function of (block index, shared memory) written
// as a sequence of phases. A phase is a lambda run once by every thread of the block (with its
// thread index); phases are separated by a block-wide barrier. On the device, DeviceExec runs a
// phase as `f(threadIdx.x); __syncthreads();`. On the host, HostExec runs the same phase as a
// loop over the thread indices — so the exact kernel code runs in the CPU tests
// (tests/kernels/cuda_bodies_test.cpp), on machines without a GPU.
//
// The rules that make both the same:
//  - a phase reads what earlier phases wrote (shared or global memory), and writes only to
//    memory no other thread of the same phase reads or writes;
//  - a phase never writes to a variable captured from outside it (state that outlives a phase
//    lives in shared memory);
//  - loops around phases and early returns depend only on block-uniform values.

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#define KV_HD __host__ __device__
#define KV_BODY __device__  // kernel bodies: device code under nvcc, host code in the tests
#else
#define KV_HD
#define KV_BODY
#endif

#include "kernels/fp16.h"

namespace kvscope::cuda {

// Runs phases on the host: thread 0, 1, ..., threads - 1 in turn.
struct HostExec {
    int threads = 1;
    template <class F>
    void phase(F&& f) const {
        for (int t = 0; t < threads; ++t) f(t);
    }
};

#if defined(__CUDACC__)
// Runs phases on the device: every thread once, then a block-wide barrier.
struct DeviceExec {
    template <class F>
    __device__ void phase(F&& f) const {
        f(static_cast<int>(threadIdx.x));
        __syncthreads();
    }
};
#endif

// binary16 / bfloat16 bits <-> f32, the same values on host and device (round to nearest even).
KV_HD inline float half_to_float(std::uint16_t h) {
#if defined(__CUDA_ARCH__)
    return __half2float(__ushort_as_half(h));
#else
    return fp16_to_f32(h);
#endif
}

KV_HD inline std::uint16_t float_to_half(float f) {
#if defined(__CUDA_ARCH__)
    return __half_as_ushort(__float2half_rn(f));
#else
    return f32_to_fp16(f);
#endif
}

KV_HD inline float bf16_to_float(std::uint16_t b) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(static_cast<unsigned int>(b) << 16);
#else
    return bf16_to_f32(b);
#endif
}

KV_HD inline std::uint16_t float_to_bf16(float f) {
#if defined(__CUDA_ARCH__)
    return __bfloat16_as_ushort(__float2bfloat16_rn(f));
#else
    return f32_to_bf16(f);
#endif
}

// Little-endian loads from byte addresses of any alignment (block layouts are packed).
KV_HD inline std::uint16_t load_u16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] | (p[1] << 8));
}

KV_HD inline std::uint32_t load_u32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) | (static_cast<std::uint32_t>(p[1]) << 8) |
           (static_cast<std::uint32_t>(p[2]) << 16) | (static_cast<std::uint32_t>(p[3]) << 24);
}

KV_HD inline float load_f32(const std::uint8_t* p) {
#if defined(__CUDA_ARCH__)
    return __uint_as_float(load_u32(p));
#else
    const std::uint32_t u = load_u32(p);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
#endif
}

KV_HD inline float exp_f(float x) {
#if defined(__CUDA_ARCH__)
    return expf(x);
#else
    return std::exp(x);
#endif
}

KV_HD inline float sqrt_f(float x) {
#if defined(__CUDA_ARCH__)
    return sqrtf(x);
#else
    return std::sqrt(x);
#endif
}

KV_HD inline float fmax_f(float a, float b) {
    return a > b ? a : b;
}

KV_HD inline float fabs_f(float a) {
    return a < 0.0f ? -a : a;
}

// 16 bytes moved as one load and one store.
struct alignas(16) Word16 {
    std::uint32_t x, y, z, w;
};

KV_HD constexpr std::int64_t ceil_div(std::int64_t a, std::int64_t b) {
    return (a + b - 1) / b;
}

constexpr float kNegInf = -INFINITY;

}  // namespace kvscope::cuda
