#pragma once
// The backends the parameterised tests run on: the CPU backend always, the CUDA backend's code
// on its host emulation always (kernels/cuda/device_ops.h: the device kernels' bodies run on
// the CPU), and the CUDA backend on a real device when one exists — otherwise its tests are
// skipped with the reason, so that ctest lists them as skipped, never silently absent.

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/backend.h"
#include "kernels/cuda/device_ops.h"

namespace kvscope::test {

// "cpu", "cuda-emu", "cuda".
std::vector<std::string> backend_names();
// "cuda-emu", "cuda": the DeviceOps implementations.
std::vector<std::string> device_names();

// Empty when `name` can run here; else why not ("no CUDA device: ...").
std::string unavailable_reason(const std::string& name);

std::unique_ptr<Backend> make_test_backend(const std::string& name, const ModelShape& shape,
                                           const ModelWeights& weights, const KvCacheSpec& kv);
std::unique_ptr<cuda::DeviceOps> make_test_device(const std::string& name);

// gtest parameter names cannot hold '-'.
inline std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
    std::string s = info.param;
    for (char& c : s) c = c == '-' ? '_' : c;
    return s;
}

}  // namespace kvscope::test

// Skips the running test, with the reason, when the backend or device `name` cannot run here.
#define KVSCOPE_SKIP_UNLESS_AVAILABLE(name)                                                \
    do {                                                                                   \
        const std::string kvscope_skip_reason = ::kvscope::test::unavailable_reason(name); \
        if (!kvscope_skip_reason.empty()) GTEST_SKIP() << kvscope_skip_reason;             \
    } while (0)
