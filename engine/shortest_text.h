#pragma once
// A number as the shortest text that reads back as the same value (std::to_chars): 16777216, not
// 1.67772e+07; 1e-09, not 0.000000; a float 0.1 as "0.1", not its double expansion.

#include <charconv>
#include <string>

namespace kvscope {

template <typename T>
std::string shortest_text(T value) {
    char buf[64];
    const auto result = std::to_chars(buf, buf + sizeof(buf), value);
    return std::string(buf, result.ptr);
}

}  // namespace kvscope
