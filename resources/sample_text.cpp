#include "resources/sample_text.h"

// Pulled in by the assembler, as the embedded model is.
__asm__(
    ".section .rodata\n"
    ".global kvscope_sample_text_begin\n"
    "kvscope_sample_text_begin:\n"
    ".incbin \"" KVSCOPE_SAMPLE_TEXT_PATH
    "\"\n"
    ".global kvscope_sample_text_end\n"
    "kvscope_sample_text_end:\n"
    ".previous\n");

extern "C" const char kvscope_sample_text_begin[];
extern "C" const char kvscope_sample_text_end[];

namespace kvscope {

std::string_view sample_text() {
    return {kvscope_sample_text_begin, static_cast<std::size_t>(kvscope_sample_text_end - kvscope_sample_text_begin)};
}

}  // namespace kvscope
