#pragma once
// Reading GGUF files (v2 and v3, little-endian): metadata, tensor infos, tensor data.
// The file is memory-mapped (or borrowed, for the embedded model) and never copied whole.
// Every structural problem is a FileError whose one-line message says what is wrong, where
// (file and byte offset, key or tensor name) and what to do.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/mapped_file.h"
#include "kernels/tensor_type.h"

namespace kvscope {

enum class GgufValueType : std::uint32_t {
    Uint8 = 0,
    Int8 = 1,
    Uint16 = 2,
    Int16 = 3,
    Uint32 = 4,
    Int32 = 5,
    Float32 = 6,
    Bool = 7,
    String = 8,
    Array = 9,
    Uint64 = 10,
    Int64 = 11,
    Float64 = 12,
};

// The file format's fixed numbers.
inline constexpr std::size_t kGgufDefaultAlignment = 32;  // when `general.alignment` is absent
inline constexpr std::size_t kGgufMaxDims = 4;            // dimensions of a tensor
inline constexpr int kGgufMaxArrayDepth = 8;              // arrays nested in arrays, at most

// "uint8", "int32", "float32", "bool", "string", "array", ...; "unknown" for other values.
std::string_view gguf_value_type_name(GgufValueType type);

// Bytes of a tensor of `type` and `shape` (GGUF order); nullopt unless every dimension is
// positive, shape[0] is a multiple of the type's block size, and nothing overflows.
std::optional<std::uint64_t> gguf_tensor_num_bytes(TensorType type, std::span<const std::int64_t> shape);

// One metadata value: a scalar, a string, or an array (of scalars, strings or arrays).
class GgufValue {
public:
    using Array = std::vector<GgufValue>;

    GgufValue() = default;
    // Typed constructors (the writer uses them; the exact GGUF type is kept).
    static GgufValue u8(std::uint8_t v);
    static GgufValue i8(std::int8_t v);
    static GgufValue u16(std::uint16_t v);
    static GgufValue i16(std::int16_t v);
    static GgufValue u32(std::uint32_t v);
    static GgufValue i32(std::int32_t v);
    static GgufValue u64(std::uint64_t v);
    static GgufValue i64(std::int64_t v);
    static GgufValue f32(float v);
    static GgufValue f64(double v);
    static GgufValue boolean(bool v);
    static GgufValue string(std::string v);
    // All items must have type `element_type` (checked).
    static GgufValue array(GgufValueType element_type, Array items);

    GgufValueType type() const { return type_; }
    GgufValueType element_type() const { return element_type_; }  // meaningful for arrays only

    bool is_integer() const;  // any of the eight integer types
    bool is_float() const;    // Float32 or Float64
    // Integers (any width, if representable), nullopt otherwise.
    std::optional<std::int64_t> as_int() const;
    // Integers (any width) that are not negative, nullopt otherwise (reaches all of uint64).
    std::optional<std::uint64_t> as_uint() const;
    // Floats and integers, nullopt otherwise.
    std::optional<double> as_float() const;
    std::optional<bool> as_bool() const;
    const std::string* as_string() const;  // nullptr unless a string
    const Array* as_array() const;         // nullptr unless an array

    // A short human-readable rendering, for `kvscope-cli info`: arrays show their first
    // `max_items` items ("[1, 2, 3, ... (32000 items)]"); strings are quoted, escaped, and cut
    // after 64 bytes ("\"abc...\" (1234 bytes)").
    std::string to_display_string(std::size_t max_items = 8) const;

    // Same type (and element type, for arrays) and same value(s).
    friend bool operator==(const GgufValue& a, const GgufValue& b) = default;

private:
    GgufValueType type_ = GgufValueType::Uint8;
    GgufValueType element_type_ = GgufValueType::Uint8;
    std::variant<std::uint64_t, std::int64_t, double, bool, std::string, Array> value_;
};

struct GgufTensorInfo {
    std::string name;
    std::vector<std::int64_t> shape;  // GGUF order: shape[0] is the innermost (contiguous) dimension
    TensorType type = TensorType::F32;
    std::uint64_t offset = 0;     // from the start of the data section
    std::uint64_t num_bytes = 0;  // bytes of tensor data
    std::int64_t num_elements() const;
};

class GgufFile {
public:
    // Maps and parses the file. Throws FileError for any structural problem.
    static GgufFile open(const std::string& path);
    // Parses bytes that outlive the result (e.g. the embedded model); `name` is used in messages.
    static GgufFile from_memory(std::span<const std::uint8_t> bytes, std::string name);

    const std::string& name() const { return file_.name(); }  // path or given name
    std::uint32_t version() const { return version_; }
    std::size_t alignment() const { return alignment_; }
    std::uint64_t data_offset() const { return data_offset_; }  // start of the data section
    std::size_t file_size() const { return file_.size(); }

    // Metadata in file order.
    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;

    // Typed getters: nullopt when the key is absent; ModelError when it is present with a type
    // that cannot be read as asked ("key 'llama.block_count' is a string, expected an integer").
    std::optional<std::string> get_string(std::string_view key) const;
    std::optional<std::int64_t> get_int(std::string_view key) const;
    std::optional<double> get_float(std::string_view key) const;
    std::optional<bool> get_bool(std::string_view key) const;
    std::optional<std::vector<std::string>> get_string_array(std::string_view key) const;
    std::optional<std::vector<float>> get_float_array(std::string_view key) const;
    std::optional<std::vector<std::int64_t>> get_int_array(std::string_view key) const;

    // As get_*, but a missing key throws ModelError naming the key and the file.
    std::string require_string(std::string_view key) const;
    std::int64_t require_int(std::string_view key) const;
    double require_float(std::string_view key) const;

    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;
    // The tensor's bytes inside the mapping (bounds were checked at open).
    std::span<const std::uint8_t> tensor_data(const GgufTensorInfo& tensor) const;

private:
    GgufFile() = default;
    void parse();

    MappedFile file_;
    std::uint32_t version_ = 0;
    std::size_t alignment_ = 32;
    std::uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::vector<GgufTensorInfo> tensors_;
};

}  // namespace kvscope
