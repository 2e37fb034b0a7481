// Whether a usable CUDA device is here (probed once), for the backend factory and the tests.

#include <cuda_runtime_api.h>

#include <exception>
#include <string>

#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device/cublas_library.h"
#include "kernels/cuda/device/launch.h"

namespace kvscope {
namespace {

std::string error_text(cudaError_t e, const char* call) {
    return std::string(cudaGetErrorString(e)) + " (" + call + " error " + std::to_string(static_cast<int>(e)) + ")";
}

CudaDeviceInfo probe() {
    CudaDeviceInfo info;
    int count = 0;
    // Without a GPU (or with a driver older than the runtime) this fails, with error 35 or 100:
    // any error means no device; clear it so that no later call sees it.
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        info.reason = "no CUDA device: " + error_text(e, "cudaGetDeviceCount");
        return info;
    }
    if (count == 0) {
        info.reason = "no CUDA device: the driver reports none";
        return info;
    }
    cudaDeviceProp prop{};
    e = cudaGetDeviceProperties(&prop, 0);
    if (e != cudaSuccess) {
        cudaGetLastError();
        info.reason = "no CUDA device: " + error_text(e, "cudaGetDeviceProperties");
        return info;
    }
    info.name = prop.name;
    info.compute_capability = prop.major * 10 + prop.minor;
    info.num_sms = prop.multiProcessorCount;
    if ((e = cudaSetDevice(0)) != cudaSuccess || (e = cuda::device::check_kernel_image()) != cudaSuccess) {
        cudaGetLastError();
        info.reason = "CUDA device " + info.name + " (sm_" + std::to_string(info.compute_capability) +
                      ") cannot run this build's kernels: " + error_text(e, "kernel image") +
                      "; rebuild with CMAKE_CUDA_ARCHITECTURES=" + std::to_string(info.compute_capability);
        return info;
    }
    e = cudaMemGetInfo(&info.free_bytes, &info.total_bytes);
    if (e != cudaSuccess) {
        cudaGetLastError();
        info.reason = "no usable CUDA device: " + error_text(e, "cudaMemGetInfo");
        return info;
    }
    // cuBLAS is opened only here, once a device is known to exist (cublas_library.h).
    try {
        cuda::cublas();
    } catch (const std::exception& error) {
        info.reason = "CUDA device " + info.name + " found, but " + error.what();
        return info;
    }
    info.available = true;
    return info;
}

}  // namespace

bool cuda_compiled() {
    return true;
}

const CudaDeviceInfo& cuda_device_info() {
    static const CudaDeviceInfo info = probe();
    return info;
}

}  // namespace kvscope
