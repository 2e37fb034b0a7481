// The host emulation of DeviceOps: the CUDA kernel bodies run on the CPU, block by block and,
// within a block, phase by phase over every thread index (kernels/cuda/hd.h). Slow, exact, and
// available everywhere: the CUDA backend's own code is tested with it on machines without a GPU.

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <new>
#include <vector>

#include "kernels/check.h"
#include "kernels/cuda/device_ops.h"
#include "kernels/fp16.h"

namespace kvscope::cuda {
namespace {

class HostDeviceOps final : public DeviceOps {
public:
    ~HostDeviceOps() override {
        for (auto& [p, bytes] : live_) std::free(p);
    }

    std::string device_name() const override { return "host emulation"; }
    std::size_t free_memory() const override { return std::size_t{1} << 30; }
    int num_sms() const override { return 4; }
    std::size_t max_shared_bytes() const override { return 48 * 1024; }

    void* alloc(std::size_t bytes) override {
        void* p = std::aligned_alloc(256, (std::max<std::size_t>(bytes, 1) + 255) / 256 * 256);
        if (p == nullptr) throw std::bad_alloc();
        std::memset(p, 0x7f, bytes);  // junk, as fresh device memory holds (large finite floats)
        live_[p] = bytes;
        return p;
    }
    void release(void* p) override {
        if (p == nullptr) return;
        KV_CHECK(live_.erase(p) == 1);
        std::free(p);
    }
    void* alloc_host(std::size_t bytes) override { return alloc(bytes); }
    void release_host(void* p) override { release(p); }
    void* host_device_pointer(void* host) override { return host; }

    void upload(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
    void upload_2d(void* dst, std::size_t dpitch, const void* src, std::size_t spitch, std::size_t width,
                   std::size_t height) override {
        for (std::size_t r = 0; r < height; ++r) {
            std::memcpy(static_cast<char*>(dst) + r * dpitch, static_cast<const char*>(src) + r * spitch, width);
        }
    }
    void download(void* dst, const void* src, std::size_t bytes) override { std::memcpy(dst, src, bytes); }
    void synchronize() override {}

    void gather(const GatherParams& p, Launch l) override {
        run(l, kRowThreads, [p](const HostExec& ex, int x, int, int, float*) { gather_block(ex, p, x); });
    }
    void rms_norm(const RmsNormParams& p, Launch l) override {
        run(l, kRowThreads, [p](const HostExec& ex, int x, int, int, float* sm) { rms_norm_block(ex, p, x, sm); });
    }
    void rope_cos_sin(const RopeCosSinParams& p, Launch l) override {
        run(l, kRowThreads, [p](const HostExec& ex, int x, int, int, float*) { rope_cos_sin_block(ex, p, x); });
    }
    void rope(const RopeParams& p, Launch l) override {
        run(l, kRowThreads, [p](const HostExec& ex, int x, int, int, float*) { rope_block(ex, p, x); });
    }
    void elementwise(const ElemParams& p, Launch l) override {
        run(l, kElemThreads, [p](const HostExec& ex, int x, int, int, float*) { elementwise_block(ex, p, x); });
    }
    void write_kv(const WriteKvParams& p, Launch l) override {
        run(l, kKvThreads, [p](const HostExec& ex, int x, int, int, float*) { write_kv_block(ex, p, x); });
    }
    void copy_blocks(const CopyBlocksParams& p, Launch l) override {
        run(l, kKvThreads, [p](const HostExec& ex, int x, int y, int, float*) { copy_blocks_block(ex, p, x, y); });
    }
    void gemv(TensorType type, int nt, const GemvParams& p, Launch l) override {
        KV_CHECK(p.n <= nt && (nt == 1 || nt == 2 || nt == 4 || nt == 8));
        run(l, kGemvThreads, [type, nt, p](const HostExec& ex, int x, int, int, float* sm) {
            switch (nt) {
                case 1:
                    gemv_typed<1>(type, ex, p, x, sm);
                    break;
                case 2:
                    gemv_typed<2>(type, ex, p, x, sm);
                    break;
                case 4:
                    gemv_typed<4>(type, ex, p, x, sm);
                    break;
                default:
                    gemv_typed<8>(type, ex, p, x, sm);
                    break;
            }
        });
    }
    void dequant_f16(TensorType type, const DequantParams& p, Launch l) override {
        run(l, kDequantThreads, [type, p](const HostExec& ex, int x, int, int, float*) {
            KV_CHECK(dispatch_weight_type(type, DequantCall{ex, p, x}));
        });
    }
    void attention(const AttentionParams& p, Launch l) override {
        KV_CHECK(l.shared_bytes <= max_shared_bytes());
        run(l, kAttnThreads,
            [p](const HostExec& ex, int x, int y, int z, float* sm) { attention_block(ex, p, x, y, z, sm); });
    }
    void attention_reduce(const AttentionReduceParams& p, Launch l) override {
        run(l, kAttnThreads, [p](const HostExec& ex, int x, int, int, float*) { attention_reduce_block(ex, p, x); });
    }

    void gemm(TensorType type, const void* w, std::int64_t rows, std::int64_t cols, const void* x, std::int64_t n,
              float* y, std::int64_t ldy) override {
        record([=] {
            auto value = [type](const void* base, std::int64_t i) {
                if (type == TensorType::F32) return static_cast<const float*>(base)[i];
                const std::uint16_t bits = static_cast<const std::uint16_t*>(base)[i];
                return type == TensorType::F16 ? fp16_to_f32(bits) : bf16_to_f32(bits);
            };
            for (std::int64_t t = 0; t < n; ++t) {
                for (std::int64_t r = 0; r < rows; ++r) {
                    double s = 0.0;
                    for (std::int64_t c = 0; c < cols; ++c)
                        s += double(value(w, r * cols + c)) * value(x, t * cols + c);
                    y[t * ldy + r] = static_cast<float>(s);
                }
            }
        });
    }

    void begin_capture() override {
        KV_CHECK(!capturing_);
        capturing_ = true;
        captured_.clear();
    }
    GraphHandle end_capture() override {
        KV_CHECK(capturing_);
        capturing_ = false;
        graphs_[next_graph_] = std::move(captured_);
        captured_.clear();
        return next_graph_++;
    }
    void launch_graph(GraphHandle graph) override {
        for (const auto& op : graphs_.at(graph)) op();
    }
    void destroy_graph(GraphHandle graph) override { graphs_.erase(graph); }

private:
    struct DequantCall {
        const HostExec& ex;
        const DequantParams& p;
        int x;
        template <TensorType T>
        void operator()() const {
            if constexpr (T != TensorType::F32 && T != TensorType::F16 && T != TensorType::BF16) {
                dequant_f16_block<T>(ex, p, x);
            } else {
                KV_CHECK_MSG(false, "dequant_f16 of a plain float type");
            }
        }
    };

    template <int NT>
    struct GemvCall {
        const HostExec& ex;
        const GemvParams& p;
        int x;
        float* smem;
        template <TensorType T>
        void operator()() const {
            gemv_block<T, NT>(ex, p, x, smem);
        }
    };

    template <int NT>
    static void gemv_typed(TensorType type, const HostExec& ex, const GemvParams& p, int x, float* smem) {
        KV_CHECK(dispatch_weight_type(type, GemvCall<NT>{ex, p, x, smem}));
    }

    // Runs (or, while capturing, records) body(ex, x, y, z, shared) for every block of the grid.
    template <class Body>
    void run(Launch l, int threads, Body body) {
        record([l, threads, body] {
            std::vector<float> shared((l.shared_bytes + 3) / 4 + kGemvThreads * 8 + kRmsNormSharedFloats);
            const HostExec ex{threads};
            for (int z = 0; z < l.gz; ++z)
                for (int y = 0; y < l.gy; ++y)
                    for (int x = 0; x < l.gx; ++x) body(ex, x, y, z, shared.data());
        });
    }

    void record(std::function<void()> op) {
        if (capturing_) {
            captured_.push_back(std::move(op));
        } else {
            op();
        }
    }

    std::map<void*, std::size_t> live_;
    bool capturing_ = false;
    std::vector<std::function<void()>> captured_;
    std::map<GraphHandle, std::vector<std::function<void()>>> graphs_;
    GraphHandle next_graph_ = 1;
};

}  // namespace

std::unique_ptr<DeviceOps> make_host_device_ops() {
    return std::make_unique<HostDeviceOps>();
}

}  // namespace kvscope::cuda
