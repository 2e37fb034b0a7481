// DeviceOps on a real GPU: device memory, one non-blocking stream, the __global__ kernels
// (launch.h), cuBLAS for the GEMMs, CUDA graphs by stream capture.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <map>
#include <string>

#include "engine/error.h"
#include "kernels/check.h"
#include "kernels/cuda/cuda_backend.h"
#include "kernels/cuda/device/cublas_library.h"
#include "kernels/cuda/device/launch.h"

namespace kvscope::cuda {
namespace {

constexpr std::size_t kCublasWorkspaceBytes = 32u << 20;
constexpr std::size_t kMaxAttentionShared = 96u << 10;

// A failed CUDA call in the middle of a step is a bug or a broken device: stop with its message.
void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) check_failed(what, cudaGetErrorString(e), __FILE__, __LINE__);
}

void check_blas(cublasStatus_t s, const char* what) {
    if (s != CUBLAS_STATUS_SUCCESS) check_failed(what, cublas().status_string(s), __FILE__, __LINE__);
}

cudaDataType_t blas_type(TensorType t) {
    switch (t) {
        case TensorType::F16:
            return CUDA_R_16F;
        case TensorType::BF16:
            return CUDA_R_16BF;
        default:
            return CUDA_R_32F;
    }
}

class CudaDeviceOps final : public DeviceOps {
public:
    CudaDeviceOps() {
        check(cudaSetDevice(0), "cudaSetDevice");
        cudaDeviceProp prop{};
        check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
        name_ = prop.name;
        num_sms_ = prop.multiProcessorCount;
        max_shared_ = std::min<std::size_t>(prop.sharedMemPerBlockOptin, kMaxAttentionShared);
        check(device::allow_attention_shared(max_shared_), "cudaFuncSetAttribute(attention)");
        check(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
        check_blas(blas_lib_.create(&blas_), "cublasCreate");
        check_blas(blas_lib_.set_stream(blas_, stream_), "cublasSetStream");
        // A workspace of our own: no allocation inside captured graphs.
        blas_workspace_ = alloc(kCublasWorkspaceBytes);
        check_blas(blas_lib_.set_workspace(blas_, blas_workspace_, kCublasWorkspaceBytes), "cublasSetWorkspace");
    }

    ~CudaDeviceOps() override {
        cudaStreamSynchronize(stream_);
        for (auto& [handle, exec] : graphs_) cudaGraphExecDestroy(exec);
        blas_lib_.destroy(blas_);
        cudaFree(blas_workspace_);
        cudaStreamDestroy(stream_);
    }

    std::string device_name() const override { return name_; }
    std::size_t free_memory() const override {
        std::size_t free = 0, total = 0;
        check(cudaMemGetInfo(&free, &total), "cudaMemGetInfo");
        return free;
    }
    int num_sms() const override { return num_sms_; }
    std::size_t max_shared_bytes() const override { return max_shared_; }

    void* alloc(std::size_t bytes) override {
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, std::max<std::size_t>(bytes, 1));
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            throw ConfigError("not enough GPU memory: " + std::to_string(bytes >> 20) + " MiB more needed, " +
                              std::to_string(free_memory() >> 20) +
                              " MiB free; use a smaller model, KV cache or --gpu-memory-utilization");
        }
        check(e, "cudaMalloc");
        return p;
    }
    void release(void* p) override { check(cudaFree(p), "cudaFree"); }
    void* alloc_host(std::size_t bytes) override {
        void* p = nullptr;
        const cudaError_t e =
            cudaHostAlloc(&p, std::max<std::size_t>(bytes, 1), cudaHostAllocMapped | cudaHostAllocPortable);
        if (e == cudaErrorMemoryAllocation) {
            cudaGetLastError();
            throw ConfigError("cannot pin " + std::to_string(bytes >> 20) + " MiB of host memory; lower --swap-space");
        }
        check(e, "cudaHostAlloc");
        return p;
    }
    void release_host(void* p) override { check(cudaFreeHost(p), "cudaFreeHost"); }
    void* host_device_pointer(void* host) override {
        void* dev = nullptr;
        check(cudaHostGetDevicePointer(&dev, host, 0), "cudaHostGetDevicePointer");
        return dev;
    }

    void upload(void* dst, const void* src, std::size_t bytes) override {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream_), "upload");
    }
    void upload_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                   std::size_t height) override {
        check(cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, cudaMemcpyHostToDevice, stream_), "upload_2d");
    }
    void download(void* dst, const void* src, std::size_t bytes) override {
        check(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream_), "download");
        synchronize();
    }
    void synchronize() override { check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize (a kernel failed)"); }

    void gather(const GatherParams& p, Launch l) override { check(device::launch_gather(p, l, stream_), "gather"); }
    void rms_norm(const RmsNormParams& p, Launch l) override {
        check(device::launch_rms_norm(p, l, stream_), "rms_norm");
    }
    void rope_cos_sin(const RopeCosSinParams& p, Launch l) override {
        check(device::launch_rope_cos_sin(p, l, stream_), "rope_cos_sin");
    }
    void rope(const RopeParams& p, Launch l) override { check(device::launch_rope(p, l, stream_), "rope"); }
    void elementwise(const ElemParams& p, Launch l) override {
        check(device::launch_elementwise(p, l, stream_), "elementwise");
    }
    void write_kv(const WriteKvParams& p, Launch l) override {
        check(device::launch_write_kv(p, l, stream_), "write_kv");
    }
    void copy_blocks(const CopyBlocksParams& p, Launch l) override {
        check(device::launch_copy_blocks(p, l, stream_), "copy_blocks");
    }
    void gemv(TensorType type, int nt, const GemvParams& p, Launch l) override {
        check(device::launch_gemv(type, nt, p, l, stream_), "gemv");
    }
    void dequant_f16(TensorType type, const DequantParams& p, Launch l) override {
        check(device::launch_dequant_f16(type, p, l, stream_), "dequant_f16");
    }
    void attention(const AttentionParams& p, Launch l) override {
        KV_CHECK(l.shared_bytes <= max_shared_);
        check(device::launch_attention(p, l, stream_), "attention");
    }
    void attention_reduce(const AttentionReduceParams& p, Launch l) override {
        check(device::launch_attention_reduce(p, l, stream_), "attention_reduce");
    }

    // Column-major view: y^T(rows, n) = W(cols, rows)^T · x^T(cols, n), W row-major (rows, cols).
    void gemm(TensorType type, const void* w, std::int64_t rows, std::int64_t cols, const void* x, std::int64_t n,
              float* y, std::int64_t ldy) override {
        const float one = 1.0f, zero = 0.0f;
        const cudaDataType_t t = blas_type(type);
        check_blas(
            blas_lib_.gemm_ex(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows), static_cast<int>(n),
                              static_cast<int>(cols), &one, w, t, static_cast<int>(cols), x, t, static_cast<int>(cols),
                              &zero, y, CUDA_R_32F, static_cast<int>(ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
            "cublasGemmEx");
    }

    void begin_capture() override {
        check(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture");
    }
    GraphHandle end_capture() override {
        cudaGraph_t graph = nullptr;
        check(cudaStreamEndCapture(stream_, &graph), "cudaStreamEndCapture");
        cudaGraphExec_t exec = nullptr;
        check(cudaGraphInstantiate(&exec, graph, 0), "cudaGraphInstantiate");
        check(cudaGraphDestroy(graph), "cudaGraphDestroy");
        graphs_[next_graph_] = exec;
        return next_graph_++;
    }
    void launch_graph(GraphHandle graph) override {
        check(cudaGraphLaunch(graphs_.at(graph), stream_), "cudaGraphLaunch");
    }
    void destroy_graph(GraphHandle graph) override {
        auto it = graphs_.find(graph);
        if (it == graphs_.end()) return;
        check(cudaGraphExecDestroy(it->second), "cudaGraphExecDestroy");
        graphs_.erase(it);
    }

private:
    std::string name_;
    int num_sms_ = 0;
    std::size_t max_shared_ = 48u << 10;
    cudaStream_t stream_ = nullptr;
    // Opened before the body runs: a missing cuBLAS throws before anything is allocated.
    const CublasLibrary& blas_lib_ = cublas();
    cublasHandle_t blas_ = nullptr;
    void* blas_workspace_ = nullptr;
    std::map<GraphHandle, cudaGraphExec_t> graphs_;
    GraphHandle next_graph_ = 1;
};

}  // namespace

std::unique_ptr<DeviceOps> make_cuda_device_ops() {
    if (!cuda_device_info().available) throw ConfigError(cuda_device_info().reason + "; use --backend cpu");
    return std::make_unique<CudaDeviceOps>();
}

}  // namespace kvscope::cuda
