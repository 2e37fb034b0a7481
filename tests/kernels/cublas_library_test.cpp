// cuBLAS is opened on first use, not at process start (kernels/cuda/device/cublas_library.h):
// checked against the process's own memory map, and against a library that cannot load.

#include <gtest/gtest.h>

#if KVSCOPE_WITH_CUDA

#include <fstream>
#include <string>

#include "engine/error.h"
#include "kernels/cuda/device/cublas_library.h"

namespace kvscope::cuda {
namespace cublas_library_test {

// Whether a file whose name contains `name` is mapped into this process (/proc/self/maps).
bool mapped(const std::string& name) {
    std::ifstream maps("/proc/self/maps");
    for (std::string line; std::getline(maps, line);)
        if (line.find(name) != std::string::npos) return true;
    return false;
}

// Declared first: gtest runs a file's tests in order, and ctest runs each in its own process.
TEST(CublasLibrary, OpensOnFirstUseOnly) {
    ASSERT_FALSE(mapped("libcublas")) << "cuBLAS was loaded before anything asked for it";
    const CublasLibrary* lib = nullptr;
    try {
        lib = &cublas();
    } catch (const ConfigError& e) {
        GTEST_SKIP() << "cuBLAS is not installed here: " << e.what();
    }
    EXPECT_TRUE(mapped("libcublas.so")) << lib->path;
    EXPECT_TRUE(mapped("libcublasLt.so")) << "cuBLAS's own dependency";
    EXPECT_NE(lib->create, nullptr);
    EXPECT_NE(lib->destroy, nullptr);
    EXPECT_NE(lib->set_stream, nullptr);
    EXPECT_NE(lib->set_workspace, nullptr);
    EXPECT_NE(lib->gemm_ex, nullptr);
    // The one call that needs no GPU: cuBLAS's own text ("the library was not initialized").
    EXPECT_NE(std::string(lib->status_string(CUBLAS_STATUS_NOT_INITIALIZED)).find("not initialized"),
              std::string::npos);
    EXPECT_EQ(&cublas(), lib) << "opened once";
}

TEST(CublasLibrary, MissingLibraryNamesEachPlaceTried) {
    try {
        load_cublas({"libkvscope-no-such-cublas.so.1", "/nonexistent/libcublas.so.99"});
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("cannot load cuBLAS"), std::string::npos) << what;
        EXPECT_NE(what.find("libkvscope-no-such-cublas.so.1"), std::string::npos) << what;
        EXPECT_NE(what.find("/nonexistent/libcublas.so.99"), std::string::npos) << what;
        EXPECT_NE(what.find("--backend cpu"), std::string::npos) << what;
    }
}

TEST(CublasLibrary, LibraryWithoutCublasSymbolsIsRefused) {
    // libm loads, but is no cuBLAS: every missing function is named.
    try {
        load_cublas({"libm.so.6"});
        FAIL() << "no error";
    } catch (const ConfigError& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("libm.so.6: lacks cublasCreate_v2"), std::string::npos) << what;
        EXPECT_NE(what.find("cublasGemmEx"), std::string::npos) << what;
    }
}

TEST(CublasLibrary, CandidatesStartWithTheToolkitsSoname) {
    const auto names = cublas_candidates();
    ASSERT_FALSE(names.empty());
    EXPECT_EQ(names.front().rfind("libcublas.so.", 0), 0u) << names.front();
}

}  // namespace cublas_library_test
}  // namespace kvscope::cuda

#else

TEST(CublasLibrary, NeedsCuda) {
    GTEST_SKIP() << "built without CUDA (KVSCOPE_CUDA=OFF or no nvcc): no cuBLAS to load";
}

#endif
