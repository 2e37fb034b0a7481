// The K-quant weight quantisers compiled for AVX2 (kernels/cpu/quant_k_quantize.h): the same
// code and the same bytes as the baseline ones, eight candidate grids per vector instead of four.

#include "kernels/cpu/quant_k_quantize.h"

namespace kvscope::cpu {

void quantize_q4_k_avx2(const float* src, void* dst, std::int64_t n) {
    quantize_q4_k_blocks(src, dst, n);
}

void quantize_q5_k_avx2(const float* src, void* dst, std::int64_t n) {
    quantize_q5_k_blocks(src, dst, n);
}

void quantize_q6_k_avx2(const float* src, void* dst, std::int64_t n) {
    quantize_q6_k_blocks(src, dst, n);
}

}  // namespace kvscope::cpu
