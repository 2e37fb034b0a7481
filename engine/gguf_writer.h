#pragma once
// Writing GGUF files (v3 by default, v2 on request, little-endian): metadata in insertion order,
// then tensor infos, then tensor data, each tensor at a multiple of the alignment.
// Tensor data comes from memory or from a callback that fills it chunk by chunk as the file is
// written, so multi-GB synthetic models are streamed, never held whole. The file is written to a
// temporary file beside the target and renamed into place: a failed write leaves no partial file
// and an existing file untouched.

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "engine/gguf.h"

namespace kvscope {

class GgufWriter {
public:
    // Fills `out` with the tensor's bytes [byte_offset, byte_offset + out.size()). Called in order,
    // over consecutive chunks that cover the tensor; both byte_offset and out.size() are multiples
    // of the row size (shape[0] elements), so every chunk holds whole quantisation blocks. Must
    // write every byte of `out`. An exception from it aborts write() (and is rethrown).
    using FillFn = std::function<void(std::uint64_t byte_offset, std::span<std::uint8_t> out)>;

    // Adds a key, or replaces the value of an existing key in place (its position is kept).
    // Throws ConfigError for an empty key or one over 65535 bytes, and for a `general.alignment`
    // that is not a uint32 power of two (that key sets the alignment, as set_alignment does).
    void set(std::string key, GgufValue value);
    void set_u32(std::string key, std::uint32_t v) { set(std::move(key), GgufValue::u32(v)); }
    void set_i32(std::string key, std::int32_t v) { set(std::move(key), GgufValue::i32(v)); }
    void set_f32(std::string key, float v) { set(std::move(key), GgufValue::f32(v)); }
    void set_bool(std::string key, bool v) { set(std::move(key), GgufValue::boolean(v)); }
    void set_string(std::string key, std::string v) { set(std::move(key), GgufValue::string(std::move(v))); }
    void set_string_array(std::string key, const std::vector<std::string>& items);
    void set_f32_array(std::string key, const std::vector<float>& items);
    void set_i32_array(std::string key, const std::vector<std::int32_t>& items);

    // Sets `general.alignment` (a power of two; ConfigError otherwise). Default: 32, and no key.
    void set_alignment(std::size_t alignment);
    std::size_t alignment() const { return alignment_; }

    // Tensors are written in the order added. Throws ConfigError for an empty or duplicate name,
    // a shape of 0 or more than 4 dimensions, a non-positive dimension, a row length (shape[0])
    // that is not a multiple of the type's block size, or (for `bytes`) a size that does not match.
    void add_tensor(std::string name, std::vector<std::int64_t> shape, TensorType type,
                    std::span<const std::uint8_t> bytes);
    void add_tensor(std::string name, std::vector<std::int64_t> shape, TensorType type, FillFn fill);

    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    std::size_t num_tensors() const { return tensors_.size(); }
    // Bytes of the file write() produces.
    std::uint64_t file_size() const;

    // Writes the file atomically (temp file in the same directory, then rename). Throws
    // ConfigError for a version other than 2 or 3, FileError for any I/O failure (no temp file is
    // left behind and a previous file at `path` is untouched).
    void write(const std::string& path, std::uint32_t version = 3) const;
    // The same bytes in memory (for small files and tests).
    std::vector<std::uint8_t> to_bytes(std::uint32_t version = 3) const;

private:
    struct Tensor {
        std::string name;
        std::vector<std::int64_t> shape;
        TensorType type;
        std::uint64_t num_bytes;
        std::vector<std::uint8_t> bytes;
        FillFn fill;
    };
    using Sink = std::function<void(std::span<const std::uint8_t>)>;

    Tensor& add_tensor_info(std::string name, std::vector<std::int64_t> shape, TensorType type);
    std::vector<std::uint64_t> data_offsets() const;                      // of each tensor, in the data section
    std::vector<std::uint8_t> header_bytes(std::uint32_t version) const;  // up to the data section
    void emit(std::uint32_t version, const Sink& sink) const;

    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<Tensor> tensors_;
    std::size_t alignment_ = kGgufDefaultAlignment;
};

}  // namespace kvscope
