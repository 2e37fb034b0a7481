#include "engine/gguf_writer.h"

#include <algorithm>
#include <cstring>

#include "engine/atomic_file.h"
#include "engine/error.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

constexpr std::uint64_t kChunkBytes = 4u << 20;  // streamed tensors are filled this much at a time

std::uint64_t align_up(std::uint64_t offset, std::uint64_t alignment) {
    return (offset + alignment - 1) / alignment * alignment;
}

bool is_power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

// Little-endian serialisation into a growing buffer.
class ByteSink {
public:
    template <typename T>
    void put(T v) {
        put_raw(&v, sizeof(T));
    }
    void put_raw(const void* data, std::size_t n) {
        const std::size_t at = bytes_.size();
        bytes_.resize(at + n);
        if (n > 0) std::memcpy(bytes_.data() + at, data, n);
    }
    void put_string(std::string_view s) {
        put<std::uint64_t>(s.size());
        put_raw(s.data(), s.size());
    }
    void pad_to(std::uint64_t alignment) { bytes_.resize(align_up(bytes_.size(), alignment), 0); }
    std::vector<std::uint8_t>& bytes() { return bytes_; }

    void put_value(const GgufValue& v) {
        switch (v.type()) {
            case GgufValueType::Uint8:
                return put(static_cast<std::uint8_t>(*v.as_uint()));
            case GgufValueType::Uint16:
                return put(static_cast<std::uint16_t>(*v.as_uint()));
            case GgufValueType::Uint32:
                return put(static_cast<std::uint32_t>(*v.as_uint()));
            case GgufValueType::Uint64:
                return put(*v.as_uint());
            case GgufValueType::Int8:
                return put(static_cast<std::int8_t>(*v.as_int()));
            case GgufValueType::Int16:
                return put(static_cast<std::int16_t>(*v.as_int()));
            case GgufValueType::Int32:
                return put(static_cast<std::int32_t>(*v.as_int()));
            case GgufValueType::Int64:
                return put(*v.as_int());
            case GgufValueType::Float32:
                return put(static_cast<float>(*v.as_float()));
            case GgufValueType::Float64:
                return put(*v.as_float());
            case GgufValueType::Bool:
                return put(static_cast<std::uint8_t>(*v.as_bool() ? 1 : 0));
            case GgufValueType::String:
                return put_string(*v.as_string());
            case GgufValueType::Array: {
                put(static_cast<std::uint32_t>(v.element_type()));
                put<std::uint64_t>(v.as_array()->size());
                for (const GgufValue& item : *v.as_array()) put_value(item);
                return;
            }
        }
    }

private:
    std::vector<std::uint8_t> bytes_;
};

}  // namespace

void GgufWriter::set(std::string key, GgufValue value) {
    if (key.empty() || key.size() > 65535) {
        throw ConfigError("GGUF writer: metadata key '" + key.substr(0, 64) + "' must have 1 to 65535 bytes");
    }
    if (key == "general.alignment") {
        const auto a = value.as_uint();
        if (value.type() != GgufValueType::Uint32 || !is_power_of_two(*a)) {
            throw ConfigError("GGUF writer: general.alignment must be a uint32 power of two, got " +
                              std::string(gguf_value_type_name(value.type())) + " " + value.to_display_string());
        }
        alignment_ = static_cast<std::size_t>(*a);
    }
    for (auto& [k, v] : metadata_) {
        if (k == key) {
            v = std::move(value);
            return;
        }
    }
    metadata_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::set_string_array(std::string key, const std::vector<std::string>& items) {
    GgufValue::Array values;
    values.reserve(items.size());
    for (const std::string& s : items) values.push_back(GgufValue::string(s));
    set(std::move(key), GgufValue::array(GgufValueType::String, std::move(values)));
}

void GgufWriter::set_f32_array(std::string key, const std::vector<float>& items) {
    GgufValue::Array values;
    values.reserve(items.size());
    for (float f : items) values.push_back(GgufValue::f32(f));
    set(std::move(key), GgufValue::array(GgufValueType::Float32, std::move(values)));
}

void GgufWriter::set_i32_array(std::string key, const std::vector<std::int32_t>& items) {
    GgufValue::Array values;
    values.reserve(items.size());
    for (std::int32_t i : items) values.push_back(GgufValue::i32(i));
    set(std::move(key), GgufValue::array(GgufValueType::Int32, std::move(values)));
}

void GgufWriter::set_alignment(std::size_t alignment) {
    if (!is_power_of_two(alignment) || alignment > 0xFFFFFFFFu) {
        throw ConfigError("GGUF writer: alignment " + std::to_string(alignment) + " is not a power of two");
    }
    set("general.alignment", GgufValue::u32(static_cast<std::uint32_t>(alignment)));
}

GgufWriter::Tensor& GgufWriter::add_tensor_info(std::string name, std::vector<std::int64_t> shape, TensorType type) {
    const std::string where = "GGUF writer: tensor '" + name + "'";
    if (name.empty()) throw ConfigError("GGUF writer: a tensor needs a name");
    for (const Tensor& t : tensors_) {
        if (t.name == name) throw ConfigError(where + " was already added; tensor names must be unique");
    }
    if (shape.empty() || shape.size() > kGgufMaxDims) {
        throw ConfigError(where + " has " + std::to_string(shape.size()) + " dimensions; GGUF allows 1 to 4");
    }
    for (std::int64_t d : shape) {
        if (d <= 0) throw ConfigError(where + " has dimension " + std::to_string(d) + "; dimensions must be positive");
    }
    const TensorTypeInfo& info = type_info(type);
    if (shape[0] % info.block_elems != 0) {
        throw ConfigError(where + " of type " + std::string(info.name) + " has rows of " + std::to_string(shape[0]) +
                          " elements; the row length must be a multiple of " + std::to_string(info.block_elems));
    }
    const std::optional<std::uint64_t> num_bytes = gguf_tensor_num_bytes(type, shape);
    if (!num_bytes) throw ConfigError(where + " is too large (its byte size overflows 64 bits)");
    tensors_.push_back(Tensor{std::move(name), std::move(shape), type, *num_bytes, {}, {}});
    return tensors_.back();
}

void GgufWriter::add_tensor(std::string name, std::vector<std::int64_t> shape, TensorType type,
                            std::span<const std::uint8_t> bytes) {
    const std::optional<std::uint64_t> expected = gguf_tensor_num_bytes(type, shape);
    if (expected && *expected != bytes.size()) {
        throw ConfigError("GGUF writer: tensor '" + name + "' needs " + std::to_string(*expected) + " bytes, got " +
                          std::to_string(bytes.size()));
    }
    Tensor& t = add_tensor_info(std::move(name), std::move(shape), type);
    t.bytes.assign(bytes.begin(), bytes.end());
}

void GgufWriter::add_tensor(std::string name, std::vector<std::int64_t> shape, TensorType type, FillFn fill) {
    if (!fill) throw ConfigError("GGUF writer: tensor '" + name + "' has no fill function");
    add_tensor_info(std::move(name), std::move(shape), type).fill = std::move(fill);
}

std::vector<std::uint64_t> GgufWriter::data_offsets() const {
    std::vector<std::uint64_t> offsets;
    std::uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        offset = align_up(offset, alignment_);
        offsets.push_back(offset);
        offset += t.num_bytes;
    }
    return offsets;
}

std::vector<std::uint8_t> GgufWriter::header_bytes(std::uint32_t version) const {
    if (version != 2 && version != 3) {
        throw ConfigError("GGUF writer: cannot write GGUF version " + std::to_string(version) + "; use 2 or 3");
    }
    ByteSink out;
    out.put_raw("GGUF", 4);
    out.put(version);
    out.put<std::uint64_t>(tensors_.size());
    out.put<std::uint64_t>(metadata_.size());
    for (const auto& [key, value] : metadata_) {
        out.put_string(key);
        out.put(static_cast<std::uint32_t>(value.type()));
        out.put_value(value);
    }
    const std::vector<std::uint64_t> offsets = data_offsets();
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        out.put_string(t.name);
        out.put(static_cast<std::uint32_t>(t.shape.size()));
        for (std::int64_t d : t.shape) out.put(static_cast<std::uint64_t>(d));
        out.put(static_cast<std::uint32_t>(t.type));
        out.put(offsets[i]);
    }
    out.pad_to(alignment_);
    return std::move(out.bytes());
}

std::uint64_t GgufWriter::file_size() const {
    const std::uint64_t header = header_bytes(3).size();
    if (tensors_.empty()) return header;
    return header + data_offsets().back() + tensors_.back().num_bytes;
}

void GgufWriter::emit(std::uint32_t version, const Sink& sink) const {
    sink(header_bytes(version));
    const std::vector<std::uint64_t> offsets = data_offsets();
    const std::vector<std::uint8_t> zeros(alignment_, 0);
    std::vector<std::uint8_t> chunk;
    std::uint64_t position = 0;  // in the data section
    for (std::size_t i = 0; i < tensors_.size(); ++i) {
        const Tensor& t = tensors_[i];
        KV_CHECK(offsets[i] >= position && offsets[i] - position < alignment_);
        sink(std::span(zeros).first(static_cast<std::size_t>(offsets[i] - position)));
        if (!t.fill) {
            sink(t.bytes);
        } else {
            // Chunks of whole rows, about kChunkBytes each (at least one row).
            const std::uint64_t row = row_bytes(t.type, t.shape[0]);
            const std::uint64_t chunk_bytes =
                std::min(t.num_bytes, std::max<std::uint64_t>(1, kChunkBytes / row) * row);
            chunk.resize(static_cast<std::size_t>(chunk_bytes));
            for (std::uint64_t done = 0; done < t.num_bytes; done += chunk_bytes) {
                const auto n = static_cast<std::size_t>(std::min(chunk_bytes, t.num_bytes - done));
                const std::span<std::uint8_t> out(chunk.data(), n);
                t.fill(done, out);
                sink(out);
            }
        }
        position = offsets[i] + t.num_bytes;
    }
}

std::vector<std::uint8_t> GgufWriter::to_bytes(std::uint32_t version) const {
    std::vector<std::uint8_t> bytes;
    emit(version, [&](std::span<const std::uint8_t> b) { bytes.insert(bytes.end(), b.begin(), b.end()); });
    return bytes;
}

void GgufWriter::write(const std::string& path, std::uint32_t version) const {
    header_bytes(version);  // validates the version before any file is created
    AtomicFile file(path, "the GGUF file");
    file.check_room(file_size());
    emit(version, [&](std::span<const std::uint8_t> b) { file.append(b); });
    file.commit();
}

}  // namespace kvscope
