#pragma once
// Hand-assembled GGUF bytes for tests: a byte builder that knows the field encodings and
// nothing else (no validation, no layout logic), so tests can build exactly the bytes they mean,
// good or bad, independently of the GGUF writer.

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <span>
#include <string_view>
#include <vector>

namespace kvscope::test {

class GgufBytes {
public:
    template <typename T>
    GgufBytes& put(T v) {
        const std::size_t at = bytes_.size();
        bytes_.resize(at + sizeof(T));
        std::memcpy(bytes_.data() + at, &v, sizeof(T));
        return *this;
    }
    GgufBytes& u8(std::uint8_t v) { return put(v); }
    GgufBytes& u32(std::uint32_t v) { return put(v); }
    GgufBytes& u64(std::uint64_t v) { return put(v); }
    GgufBytes& raw(std::string_view s) {
        bytes_.insert(bytes_.end(), s.begin(), s.end());
        return *this;
    }
    GgufBytes& raw(std::span<const std::uint8_t> b) {
        bytes_.insert(bytes_.end(), b.begin(), b.end());
        return *this;
    }
    // A GGUF string: uint64 length, then the bytes.
    GgufBytes& str(std::string_view s) { return u64(s.size()).raw(s); }
    GgufBytes& zeros(std::size_t n) {
        bytes_.resize(bytes_.size() + n, 0);
        return *this;
    }
    GgufBytes& pad_to(std::size_t alignment) {
        while (bytes_.size() % alignment != 0) bytes_.push_back(0);
        return *this;
    }

    // "GGUF", version, tensor count, metadata count.
    GgufBytes& header(std::uint32_t version, std::uint64_t num_tensors, std::uint64_t num_kv) {
        return raw("GGUF").u32(version).u64(num_tensors).u64(num_kv);
    }
    // Key and value type id; the caller appends the value.
    GgufBytes& key(std::string_view k, std::uint32_t type_id) { return str(k).u32(type_id); }
    GgufBytes& kv_u32(std::string_view k, std::uint32_t v) { return key(k, 4).u32(v); }
    GgufBytes& kv_string(std::string_view k, std::string_view v) { return key(k, 8).str(v); }
    // Name, dims, type id, offset.
    GgufBytes& tensor_info(std::string_view name, std::initializer_list<std::uint64_t> dims, std::uint32_t type_id,
                           std::uint64_t offset) {
        str(name).u32(static_cast<std::uint32_t>(dims.size()));
        for (std::uint64_t d : dims) u64(d);
        return u32(type_id).u64(offset);
    }

    std::size_t size() const { return bytes_.size(); }
    const std::vector<std::uint8_t>& bytes() const { return bytes_; }
    std::span<const std::uint8_t> span() const { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
};

}  // namespace kvscope::test
