#include "kernels/check.h"

#include <cstdio>
#include <cstdlib>

namespace kvscope {

void check_failed(const char* condition, const char* message, const char* file, int line) {
    std::fprintf(stderr, "kvscope: internal check failed: %s%s%s (%s:%d)\n", condition, message ? ": " : "",
                 message ? message : "", file, line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace kvscope
