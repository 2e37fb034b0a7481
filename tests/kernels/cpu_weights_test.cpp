// The CPU backend's weights (kernels/cpu/cpu_weights.h): with packing on, every 2-D weight lives in
// memory the backend owns (packed where a packed format exists, otherwise a byte-for-byte copy)
// and never in the source's memory; with packing off every weight is read in place.

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "kernels/cpu/cpu_weights.h"
#include "kernels/quant.h"
#include "kernels/thread_pool.h"
#include "tests/kernels/quant_test_util.h"

namespace kvscope {
namespace cpu_weights_test {

struct Source {
    std::vector<std::vector<std::uint8_t>> bytes;  // one per weight
    ModelWeights model;

    WeightTensor add(TensorType type, std::int64_t rows, std::int64_t cols) {
        auto& b = bytes.emplace_back(static_cast<std::size_t>(rows) * row_bytes(type, cols));
        for (std::int64_t r = 0; r < rows; ++r) {
            const auto row = test::random_row(cols, static_cast<unsigned>(bytes.size() * 100 + r));
            quantize_row(type, row.data(), b.data() + r * row_bytes(type, cols), cols);
        }
        return WeightTensor{type, rows, cols, b.data()};
    }
};

// One layer of each kind of weight: copied (F32, F16, Q6_K, and Q4_0 with rows not a multiple of
// 8) and packed (Q4_0, Q8_0), and an F32 output.
Source make_source() {
    Source s;
    s.bytes.reserve(16);  // the tensors point into these vectors: no reallocation
    LayerWeights l;
    l.wq = s.add(TensorType::F32, 24, 64);
    l.wk = s.add(TensorType::F16, 8, 64);
    l.wv = s.add(TensorType::Q4_0, 12, 64);  // 12 rows: does not pack
    l.wo = s.add(TensorType::Q4_0, 64, 64);
    l.ffn_gate = s.add(TensorType::Q8_0, 96, 64);
    l.ffn_up = s.add(TensorType::Q6_K, 96, 256);
    l.ffn_down = s.add(TensorType::F16, 64, 96);
    s.model.layers.push_back(l);
    s.model.output = s.add(TensorType::F32, 40, 64);
    return s;
}

std::vector<std::pair<const WeightTensor*, const MatmulWeight*>> pairs(const Source& s, const CpuWeights& w) {
    const LayerWeights& l = s.model.layers[0];
    const CpuLayerWeights& m = w.layer(0);
    return {{&l.wq, &m.wq},
            {&l.wk, &m.wk},
            {&l.wv, &m.wv},
            {&l.wo, &m.wo},
            {&l.ffn_gate, &m.ffn_gate},
            {&l.ffn_up, &m.ffn_up},
            {&l.ffn_down, &m.ffn_down},
            {&s.model.output, &w.output()}};
}

TEST(CpuWeights, EveryWeightIsPackedOrCopiedIntoTheBackendsMemory) {
    const Source s = make_source();
    ThreadPool pool(2);
    const CpuWeights w(s.model, pool, true);
    int packed = 0, copied = 0;
    for (const auto& [source, mine] : pairs(s, w)) {
        const std::size_t bytes = static_cast<std::size_t>(source->rows) * row_bytes(source->type, source->cols);
        const auto* begin = static_cast<const std::uint8_t*>(source->data);
        if (mine->format != PackedFormat::None) {
            ++packed;
            EXPECT_NE(mine->packed, nullptr);
            EXPECT_TRUE(mine->packed + packed_bytes(*source) <= begin || mine->packed >= begin + bytes);
            continue;
        }
        ++copied;
        EXPECT_EQ(mine->w.type, source->type);
        EXPECT_EQ(mine->w.rows, source->rows);
        EXPECT_EQ(mine->w.cols, source->cols);
        const auto* data = static_cast<const std::uint8_t*>(mine->w.data);
        EXPECT_TRUE(data + bytes <= begin || data >= begin + bytes) << type_name(source->type) << ": read in place";
        EXPECT_EQ(std::memcmp(data, begin, bytes), 0) << type_name(source->type) << ": the copy differs";
    }
    EXPECT_EQ(packed, 2);  // wo (Q4_0), ffn_gate (Q8_0)
    EXPECT_EQ(copied, 6);
}

TEST(CpuWeights, WithoutPackingEveryWeightIsReadInPlace) {
    const Source s = make_source();
    ThreadPool pool(2);
    const CpuWeights w(s.model, pool, false);
    for (const auto& [source, mine] : pairs(s, w)) {
        EXPECT_EQ(mine->format, PackedFormat::None);
        EXPECT_EQ(mine->w.data, source->data);
    }
}

}  // namespace cpu_weights_test
}  // namespace kvscope
