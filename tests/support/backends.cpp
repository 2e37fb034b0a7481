#include "tests/support/backends.h"

#include "kernels/cuda/cuda_backend.h"

namespace kvscope::test {

std::vector<std::string> backend_names() {
    return {"cpu", "cuda-emu", "cuda"};
}

std::vector<std::string> device_names() {
    return {"cuda-emu", "cuda"};
}

std::string unavailable_reason(const std::string& name) {
    if (name != "cuda") return {};
    const CudaDeviceInfo& info = cuda_device_info();
    return info.available ? std::string() : info.reason;
}

std::unique_ptr<Backend> make_test_backend(const std::string& name, const ModelShape& shape,
                                           const ModelWeights& weights, const KvCacheSpec& kv) {
    if (name == "cpu") return make_cpu_backend(shape, weights, kv, CpuBackendOptions{2});
    CudaBackendOptions options;
    options.max_num_tokens = 64;  // small, so that tests also exercise the workspace growing
    options.max_num_seqs = 4;
    if (name == "cuda-emu") return make_emulated_cuda_backend(shape, weights, kv, options);
    return make_cuda_backend(shape, weights, kv, options);
}

std::unique_ptr<cuda::DeviceOps> make_test_device(const std::string& name) {
    return name == "cuda-emu" ? cuda::make_host_device_ops() : cuda::make_cuda_device_ops();
}

}  // namespace kvscope::test
