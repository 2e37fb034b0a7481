#pragma once
// KV_CHECK: pre/post-conditions that stay on in Release. A failed check is a bug in kvscope,
// never a user error (those are typed exceptions or returned values): it prints and aborts.

namespace kvscope {
[[noreturn]] void check_failed(const char* condition, const char* message, const char* file, int line);
}  // namespace kvscope

#define KV_CHECK(cond) \
    ((cond) ? static_cast<void>(0) : ::kvscope::check_failed(#cond, nullptr, __FILE__, __LINE__))
#define KV_CHECK_MSG(cond, msg) \
    ((cond) ? static_cast<void>(0) : ::kvscope::check_failed(#cond, (msg), __FILE__, __LINE__))
