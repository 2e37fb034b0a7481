// The K-quant weight quantisers for the baseline target (kernels/cpu/quant_k_quantize.h).

#include "kernels/cpu/quant_k_quantize.h"

namespace kvscope::cpu {

void quantize_q4_k(const float* src, void* dst, std::int64_t n) {
    quantize_q4_k_blocks(src, dst, n);
}

void quantize_q5_k(const float* src, void* dst, std::int64_t n) {
    quantize_q5_k_blocks(src, dst, n);
}

void quantize_q6_k(const float* src, void* dst, std::int64_t n) {
    quantize_q6_k_blocks(src, dst, n);
}

}  // namespace kvscope::cpu
