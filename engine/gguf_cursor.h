#pragma once
// Internal to the GGUF reader: a bounds-checked, little-endian cursor over a file's bytes.
// Every read checks the bytes left first, so a truncated or corrupt file can never make the
// reader look past its end; a failed check throws FileError naming the file, the section
// ("metadata", "tensor infos"), the item (key or tensor) and the byte offset.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "engine/gguf.h"

namespace kvscope::gguf_detail {

static_assert(std::endian::native == std::endian::little, "the GGUF reader assumes a little-endian host");

// `text` made safe for a one-line message: control bytes, backslashes and bytes that are not
// well-formed UTF-8 as \xNN; at most `max_bytes` bytes of the input shown (then "...").
std::string printable(std::string_view text, std::size_t max_bytes = 96);

class GgufCursor {
public:
    GgufCursor(std::span<const std::uint8_t> bytes, std::string file_name)
        : data_(bytes.data()), size_(bytes.size()), file_name_(std::move(file_name)) {}

    std::uint64_t offset() const { return pos_; }
    std::uint64_t size() const { return size_; }
    std::uint64_t remaining() const { return size_ - pos_; }

    // Where we are, for messages: section "metadata" or "tensor infos"; item "key 'x'" etc.
    void set_section(const char* section) { section_ = section; }
    void set_item(std::string item) { item_ = std::move(item); }

    template <typename T>
    T read(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return v;
    }
    // A GGUF string (uint64 length, then bytes), as a view into the file.
    std::string_view read_string(const char* what);
    // A metadata value of `type` (already read); arrays recurse up to kGgufMaxArrayDepth.
    GgufValue read_value(GgufValueType type, int depth);
    // A value type id, checked to be one GGUF defines.
    GgufValueType read_value_type(const char* what);

    // Throws FileError "<file>: <message>".
    [[noreturn]] void fail(const std::string& message) const;

private:
    void need(std::uint64_t num_bytes, const char* what) const;
    GgufValue read_array(int depth);

    const std::uint8_t* data_;
    std::uint64_t size_;
    std::uint64_t pos_ = 0;
    std::string file_name_;
    const char* section_ = "header";
    std::string item_;
};

}  // namespace kvscope::gguf_detail
