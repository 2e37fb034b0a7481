// cuBLAS opened with dlopen on first use (see cublas_library.h).

#include "kernels/cuda/device/cublas_library.h"

#include <dlfcn.h>

#include <type_traits>

#include "engine/error.h"

#ifndef KVSCOPE_CUBLAS_SONAME
#error "KVSCOPE_CUBLAS_SONAME (libcublas.so.<CUDA major>) comes from kernels/CMakeLists.txt"
#endif

namespace kvscope::cuda {
namespace {

// The pointer type picks cublas_api.h's real cublasGemmEx, not its inline overload that takes a
// cudaDataType compute type; this fails to compile if the header's signature ever differs.
static_assert(std::is_same_v<decltype(static_cast<CublasLibrary::GemmEx>(&::cublasGemmEx)), CublasLibrary::GemmEx>);

template <typename Fn>
bool resolve(void* handle, const char* name, Fn& fn, std::string& missing) {
    fn = reinterpret_cast<Fn>(dlsym(handle, name));
    if (fn == nullptr) missing += std::string(missing.empty() ? "" : ", ") + name;
    return fn != nullptr;
}

}  // namespace

std::vector<std::string> cublas_candidates() {
    std::vector<std::string> names{KVSCOPE_CUBLAS_SONAME};
#ifdef KVSCOPE_CUBLAS_DIR
    names.push_back(std::string(KVSCOPE_CUBLAS_DIR) + "/" + KVSCOPE_CUBLAS_SONAME);
#endif
    return names;
}

CublasLibrary load_cublas(const std::vector<std::string>& candidates) {
    std::string tried;
    for (const std::string& name : candidates) {
        void* handle = dlopen(name.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = dlerror();
            tried += "\n  " + name + ": " + (why != nullptr ? why : "not found");
            continue;
        }
        CublasLibrary lib;
        lib.path = name;
        std::string missing;
        // Bitwise & so that every missing name is listed, not just the first.
        const bool all = resolve(handle, "cublasCreate_v2", lib.create, missing) &
                         resolve(handle, "cublasDestroy_v2", lib.destroy, missing) &
                         resolve(handle, "cublasSetStream_v2", lib.set_stream, missing) &
                         resolve(handle, "cublasSetWorkspace_v2", lib.set_workspace, missing) &
                         resolve(handle, "cublasGetStatusString", lib.status_string, missing) &
                         resolve(handle, "cublasGemmEx", lib.gemm_ex, missing);
        if (all) return lib;  // stays open for the life of the process
        dlclose(handle);
        tried += "\n  " + name + ": lacks " + missing;
    }
    throw ConfigError("cannot load cuBLAS (" KVSCOPE_CUBLAS_SONAME ", from the CUDA toolkit this was built with):" +
                      tried + "\ninstall that cuBLAS or add its folder to LD_LIBRARY_PATH, or use --backend cpu");
}

const CublasLibrary& cublas() {
    static const CublasLibrary lib = load_cublas(cublas_candidates());
    return lib;
}

}  // namespace kvscope::cuda
