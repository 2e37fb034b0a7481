// Choosing the backend: CUDA only when asked for (cuda or auto) and a device exists; auto
// without one runs on the CPU with a one-line note, cuda by name is refused with the reason; the CUDA backend's KV
// cache sized by a fraction of free memory (on its host emulation, whose "free memory" is 1 GiB).

#include "engine/backend_factory.h"

#include <gtest/gtest.h>

#include "engine/error.h"
#include "kernels/cuda/cuda_backend.h"

namespace kvscope {
namespace backend_factory_test {

std::shared_ptr<const Model> embedded() {
    static std::shared_ptr<const Model> model = Model::load("");
    return model;
}

TEST(BackendFactory, CpuIsUsedWithoutANoteWhenAskedFor) {
    EngineConfig config;
    config.backend = BackendKind::Cpu;
    const BackendChoice choice = make_backend(*embedded(), config);
    EXPECT_EQ(choice.backend->name().rfind("cpu", 0), 0u) << choice.backend->name();
    EXPECT_TRUE(choice.note.empty());
    EXPECT_EQ(choice.config.num_kv_blocks, std::nullopt);
}

TEST(BackendFactory, AutoWithoutADeviceFallsBackToTheCpuAndSaysWhyButCudaByNameIsRefused) {
    if (cuda_device_info().available) GTEST_SKIP() << "a CUDA device is present: " << cuda_device_info().name;
    EngineConfig config;
    config.backend = BackendKind::Auto;
    const BackendChoice choice = make_backend(*embedded(), config);
    EXPECT_EQ(choice.backend->name().rfind("cpu", 0), 0u);
    EXPECT_NE(choice.note.find(cuda_device_info().reason), std::string::npos) << choice.note;
    EXPECT_NE(choice.note.find("using the CPU backend"), std::string::npos) << choice.note;
    EXPECT_EQ(choice.note.find('\n'), std::string::npos);

    config.backend = BackendKind::Cuda;
    try {
        make_backend(*embedded(), config);
        ADD_FAILURE() << "backend cuda without a device ran on something else";
    } catch (const ConfigError& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find(cuda_device_info().reason), std::string::npos) << message;
        EXPECT_NE(message.find("choose the backend auto"), std::string::npos) << message;
    }
    EXPECT_THROW(make_cuda_backend(embedded()->shape(), embedded()->weights(), KvCacheSpec{8, 16}, {}), ConfigError);
}

TEST(BackendFactory, CudaOnADeviceIsChosenAndSizedByTheMemoryFraction) {
    if (!cuda_device_info().available) GTEST_SKIP() << cuda_device_info().reason;
    EngineConfig config;
    config.backend = BackendKind::Auto;
    config.gpu_memory_utilization = 0.5;
    const BackendChoice choice = make_backend(*embedded(), config);
    EXPECT_EQ(choice.backend->name().rfind("cuda", 0), 0u);
    EXPECT_TRUE(choice.note.empty());
    // stories260K: 512 tokens of context, 64 sequences: no more blocks than they can hold
    EXPECT_EQ(choice.config.num_kv_blocks, 64 * 512 / 16);
}

TEST(BackendFactory, TheCudaCacheTakesAFractionOfFreeMemoryUpToACap) {
    const Model& m = *embedded();
    const std::size_t per_block =
        2 * std::size_t(m.shape().num_layers) * 16 * row_bytes(TensorType::F16, m.shape().kv_dim());
    CudaBackendOptions options;
    options.kv_memory_fraction = 0.25;
    auto backend = make_emulated_cuda_backend(m.shape(), m.weights(), KvCacheSpec{1, 16, TensorType::F16}, options);
    EXPECT_EQ(backend->name(), "cuda (host emulation)");
    EXPECT_EQ(backend->kv_spec().num_blocks, static_cast<std::int32_t>((std::size_t{1} << 30) / 4 / per_block));
    options.max_kv_blocks = 100;
    backend = make_emulated_cuda_backend(m.shape(), m.weights(), KvCacheSpec{1, 16, TensorType::F16}, options);
    EXPECT_EQ(backend->kv_spec().num_blocks, 100);
    options.kv_memory_fraction = 0.0;
    backend = make_emulated_cuda_backend(m.shape(), m.weights(), KvCacheSpec{7, 16, TensorType::F16}, options);
    EXPECT_EQ(backend->kv_spec().num_blocks, 7);
}

}  // namespace backend_factory_test
}  // namespace kvscope
