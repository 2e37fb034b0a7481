#include "resources/embedded_model.h"

// The file is pulled in by the assembler, so the build needs no generator step.
__asm__(
    ".section .rodata\n"
    ".balign 64\n"
    ".global kvscope_embedded_model_begin\n"
    "kvscope_embedded_model_begin:\n"
    ".incbin \"" KVSCOPE_EMBEDDED_MODEL_PATH "\"\n"
    ".global kvscope_embedded_model_end\n"
    "kvscope_embedded_model_end:\n"
    ".previous\n");

extern "C" const std::uint8_t kvscope_embedded_model_begin[];
extern "C" const std::uint8_t kvscope_embedded_model_end[];

namespace kvscope {

std::span<const std::uint8_t> embedded_model_bytes() {
    return {kvscope_embedded_model_begin, kvscope_embedded_model_end};
}

}  // namespace kvscope
