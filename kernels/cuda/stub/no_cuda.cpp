// Built instead of kernels/cuda/device when KVSCOPE_CUDA is off: no device. (make_cuda_backend in
// cuda_backend.cpp, always built, then refuses with cuda_device_info().reason.)

#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device_ops.h"

namespace kvscope {

bool cuda_compiled() {
    return false;
}

const CudaDeviceInfo& cuda_device_info() {
    static const CudaDeviceInfo info = [] {
        CudaDeviceInfo i;
        i.reason = "kvscope was built without CUDA (KVSCOPE_CUDA=OFF or no nvcc at configure time)";
        return i;
    }();
    return info;
}

}  // namespace kvscope

namespace kvscope::cuda {

std::unique_ptr<DeviceOps> make_cuda_device_ops() {
    throw ConfigError("the CUDA backend is not in this build; rebuild with nvcc installed or use --backend cpu");
}

}  // namespace kvscope::cuda
