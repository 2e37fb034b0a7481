#pragma once
// cuBLAS, opened on first use (dlopen) instead of linked. Linking it made every process pay for
// loading cublasLt (about 0.4 s of static initialisers, measured here) even on machines without a
// GPU, and a machine without libcublas could not start kvscope at all, not even on the CPU.

#include <cublas_v2.h>

#include <string>
#include <vector>

namespace kvscope::cuda {

// The cuBLAS functions the backend calls, with the header's own types.
struct CublasLibrary {
    using GemmEx = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int, int, const void*,
                                      const void*, cudaDataType, int, const void*, cudaDataType, int, const void*,
                                      void*, cudaDataType, int, cublasComputeType_t, cublasGemmAlgo_t);

    std::string path;  // what dlopen opened
    decltype(&cublasCreate_v2) create = nullptr;
    decltype(&cublasDestroy_v2) destroy = nullptr;
    decltype(&cublasSetStream_v2) set_stream = nullptr;
    decltype(&cublasSetWorkspace_v2) set_workspace = nullptr;
    decltype(&cublasGetStatusString) status_string = nullptr;
    GemmEx gemm_ex = nullptr;
};

// Where to look, in order: the soname of the toolkit this was built with (the loader's search
// path: LD_LIBRARY_PATH, ld.so.conf, the executable's RUNPATH), then that toolkit's library folder.
std::vector<std::string> cublas_candidates();

// Opens the first candidate that loads and resolves every function; throws ConfigError naming
// each candidate and why it failed otherwise.
CublasLibrary load_cublas(const std::vector<std::string>& candidates);

// load_cublas(cublas_candidates()), once per process (thread-safe); after a failure the next
// call tries again.
const CublasLibrary& cublas();

}  // namespace kvscope::cuda
