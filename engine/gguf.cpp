// GgufFile: opening and validating a GGUF file (header, metadata, tensor infos, data bounds).
// Typed metadata access lives in gguf_getters.cpp, value types in gguf_value.cpp.

#include "engine/gguf.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "engine/error.h"
#include "engine/gguf_cursor.h"
#include "kernels/check.h"

namespace kvscope {
namespace {

using gguf_detail::GgufCursor;
using gguf_detail::printable;

constexpr std::uint64_t kHeaderBytes = 24;         // magic, version, tensor count, metadata count
constexpr std::uint64_t kMinKvBytes = 14;          // key length + 1 key byte + value type + 1 value byte
constexpr std::uint64_t kMinTensorInfoBytes = 33;  // name length + 1 byte + dims count + 1 dim + type + offset

struct Header {
    std::uint32_t version = 0;
    std::uint64_t num_tensors = 0;
    std::uint64_t num_kv = 0;
};

std::string hex_bytes(std::span<const std::uint8_t> bytes) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (std::size_t i = 0; i < bytes.size(); ++i) {
        if (i > 0) out += ' ';
        out += kHex[bytes[i] >> 4];
        out += kHex[bytes[i] & 15];
    }
    return out;
}

std::uint32_t load_u32(const std::uint8_t* p) {
    std::uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}

// Magic, version and counts, checked in the order that gives the most useful message.
Header read_header(GgufCursor& cur, std::span<const std::uint8_t> bytes) {
    const std::size_t magic_bytes = std::min<std::size_t>(bytes.size(), 4);
    if (magic_bytes > 0 && std::memcmp(bytes.data(), "GGUF", magic_bytes) != 0) {
        const auto first = bytes.first(std::min<std::size_t>(bytes.size(), 8));
        const std::string_view as_text(reinterpret_cast<const char*>(first.data()), first.size());
        cur.fail("not a GGUF file: it starts with bytes " + hex_bytes(first) + " (\"" + printable(as_text) +
                 "\"), a GGUF file starts with \"GGUF\"; pass a .gguf model file");
    }
    if (bytes.size() >= 8) {
        const std::uint32_t version = load_u32(bytes.data() + 4);
        if (version == 1) {
            cur.fail("GGUF version 1 is not supported; re-convert the model with a current llama.cpp converter");
        }
        if (version == 0) cur.fail("GGUF version 0 is not valid; the file is corrupt, re-download it");
        if (version > 3) {
            if (__builtin_bswap32(version) == 2 || __builtin_bswap32(version) == 3) {
                cur.fail(
                    "this is a big-endian GGUF file; kvscope reads little-endian GGUF files only, convert the "
                    "model again without --bigendian");
            }
            cur.fail("GGUF version " + std::to_string(version) +
                     " is newer than kvscope supports (2 and 3); update kvscope or re-convert the model to GGUF "
                     "version 3");
        }
    }
    if (bytes.size() < kHeaderBytes) {
        cur.fail("the file is " + std::to_string(bytes.size()) + " bytes, shorter than the " +
                 std::to_string(kHeaderBytes) + "-byte GGUF header; the file is truncated, re-download it");
    }
    Header h;
    cur.read<std::uint32_t>("magic");
    h.version = cur.read<std::uint32_t>("version");
    h.num_tensors = cur.read<std::uint64_t>("tensor count");
    h.num_kv = cur.read<std::uint64_t>("metadata count");
    // Reject absurd counts before reserving memory for them.
    if (h.num_kv > cur.remaining() / kMinKvBytes) {
        cur.fail("the header claims " + std::to_string(h.num_kv) + " metadata entries (at offset 16), more than the " +
                 std::to_string(cur.size()) + "-byte file can hold; the file is corrupt, re-download it");
    }
    if (h.num_tensors > cur.remaining() / kMinTensorInfoBytes) {
        cur.fail("the header claims " + std::to_string(h.num_tensors) + " tensors (at offset 8), more than the " +
                 std::to_string(cur.size()) + "-byte file can hold; the file is corrupt, re-download it");
    }
    return h;
}

void read_metadata(GgufCursor& cur, std::uint64_t num_kv, std::vector<std::pair<std::string, GgufValue>>& out) {
    cur.set_section("metadata");
    out.reserve(static_cast<std::size_t>(num_kv));
    std::unordered_map<std::string_view, std::uint64_t> seen;  // key (a view into the file) -> entry index
    seen.reserve(static_cast<std::size_t>(num_kv));
    for (std::uint64_t i = 0; i < num_kv; ++i) {
        const std::uint64_t at = cur.offset();
        cur.set_item("entry #" + std::to_string(i) + " (offset " + std::to_string(at) + ")");
        const std::string_view key = cur.read_string("key");
        if (key.empty())
            cur.fail("metadata entry #" + std::to_string(i) + " at offset " + std::to_string(at) +
                     " has an empty key; the file is corrupt, re-convert it");
        cur.set_item("key '" + printable(key) + "'");
        if (const auto [it, inserted] = seen.emplace(key, i); !inserted) {
            cur.fail("duplicate metadata key '" + printable(key) + "' (entries #" + std::to_string(it->second) +
                     " and #" + std::to_string(i) + ", offset " + std::to_string(at) +
                     "); the file is corrupt, re-convert it");
        }
        const GgufValueType type = cur.read_value_type("value type");
        out.emplace_back(std::string(key), cur.read_value(type, 0));
    }
}

std::size_t read_alignment(const GgufCursor& cur, const GgufFile& file) {
    const GgufValue* v = file.find("general.alignment");
    if (v == nullptr) return kGgufDefaultAlignment;
    if (v->type() != GgufValueType::Uint32) {
        cur.fail("metadata key 'general.alignment' has type " + std::string(gguf_value_type_name(v->type())) +
                 ", expected uint32; the file is corrupt, re-convert it");
    }
    const std::int64_t a = *v->as_int();
    if (a == 0 || (a & (a - 1)) != 0) {
        cur.fail("metadata key 'general.alignment' is " + std::to_string(a) +
                 ", not a power of two; the file is corrupt, re-convert it");
    }
    return static_cast<std::size_t>(a);
}

std::string shape_string(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) s += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

GgufTensorInfo read_tensor_info(GgufCursor& cur, std::uint64_t index, std::size_t alignment) {
    cur.set_item("tensor info #" + std::to_string(index) + " (offset " + std::to_string(cur.offset()) + ")");
    GgufTensorInfo t;
    const std::uint64_t at = cur.offset();
    t.name = std::string(cur.read_string("name"));
    if (t.name.empty()) {
        cur.fail("tensor info #" + std::to_string(index) + " at offset " + std::to_string(at) +
                 " has an empty name; the file is corrupt, re-convert it");
    }
    const std::string tensor = "tensor '" + printable(t.name) + "'";
    cur.set_item(tensor);
    const auto num_dims = cur.read<std::uint32_t>("dimension count");
    if (num_dims == 0 || num_dims > kGgufMaxDims) {
        cur.fail(tensor + " has " + std::to_string(num_dims) + " dimensions, GGUF allows 1 to " +
                 std::to_string(kGgufMaxDims) + "; the file is corrupt or needs a newer kvscope");
    }
    std::int64_t num_elements = 1;
    for (std::uint32_t d = 0; d < num_dims; ++d) {
        const auto dim = cur.read<std::uint64_t>("dimension");
        if (dim == 0 || dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
            cur.fail(tensor + " has dimension " + std::to_string(d) + " = " + std::to_string(dim) +
                     (dim == 0 ? " (empty)" : " (too large)") + "; the file is corrupt, re-convert it");
        }
        t.shape.push_back(static_cast<std::int64_t>(dim));
        if (__builtin_mul_overflow(num_elements, static_cast<std::int64_t>(dim), &num_elements)) {
            cur.fail(tensor + " has an element count that overflows 64 bits (shape " + shape_string(t.shape) +
                     "...); the file is corrupt, re-convert it");
        }
    }
    const std::uint64_t type_at = cur.offset();
    const auto type_id = cur.read<std::uint32_t>("type");
    const TensorTypeInfo* info = find_tensor_type(type_id);
    if (info == nullptr) {
        cur.fail(tensor + " has unknown type id " + std::to_string(type_id) + " at offset " + std::to_string(type_at) +
                 "; the file is corrupt or needs a newer kvscope");
    }
    t.type = info->type;
    if (t.shape[0] % info->block_elems != 0) {
        cur.fail(tensor + " of type " + std::string(info->name) + " has rows of " + std::to_string(t.shape[0]) +
                 " elements, not a multiple of the type's block size " + std::to_string(info->block_elems) +
                 "; the file is corrupt, re-convert it");
    }
    const std::optional<std::uint64_t> num_bytes = gguf_tensor_num_bytes(t.type, t.shape);
    if (!num_bytes) {
        cur.fail(tensor + " of shape " + shape_string(t.shape) +
                 " has a byte size that overflows 64 bits; the file is corrupt, re-convert it");
    }
    t.num_bytes = *num_bytes;
    const std::uint64_t offset_at = cur.offset();
    t.offset = cur.read<std::uint64_t>("data offset");
    if (t.offset % alignment != 0) {
        cur.fail(tensor + " has data offset " + std::to_string(t.offset) + " (at offset " + std::to_string(offset_at) +
                 "), not a multiple of the alignment " + std::to_string(alignment) +
                 "; the file is corrupt, re-convert it");
    }
    return t;
}

void read_tensor_infos(GgufCursor& cur, std::uint64_t num_tensors, std::size_t alignment,
                       std::vector<GgufTensorInfo>& out) {
    cur.set_section("tensor infos");
    out.reserve(static_cast<std::size_t>(num_tensors));
    std::unordered_map<std::string, std::uint64_t> seen;
    seen.reserve(static_cast<std::size_t>(num_tensors));
    for (std::uint64_t i = 0; i < num_tensors; ++i) {
        out.push_back(read_tensor_info(cur, i, alignment));
        if (const auto [it, inserted] = seen.emplace(out.back().name, i); !inserted) {
            cur.fail("duplicate tensor name '" + printable(out.back().name) + "' (tensor infos #" +
                     std::to_string(it->second) + " and #" + std::to_string(i) +
                     "); the file is corrupt, re-convert it");
        }
    }
}

// Every tensor's bytes lie inside the file, and no two tensors share bytes.
void check_tensor_data(const GgufCursor& cur, const std::vector<GgufTensorInfo>& tensors, std::uint64_t data_offset) {
    const std::uint64_t size = cur.size();
    for (const GgufTensorInfo& t : tensors) {
        std::uint64_t begin = 0;
        std::uint64_t end = 0;
        const bool overflow =
            __builtin_add_overflow(data_offset, t.offset, &begin) || __builtin_add_overflow(begin, t.num_bytes, &end);
        if (overflow || end > size) {
            cur.fail("truncated tensor data: tensor '" + printable(t.name) + "' needs bytes " +
                     (overflow ? std::to_string(data_offset) + " + " + std::to_string(t.offset) + " + " +
                                     std::to_string(t.num_bytes)
                               : std::to_string(begin) + ".." + std::to_string(end)) +
                     " but the file has " + std::to_string(size) +
                     " bytes; the download is incomplete (or the file is corrupt), re-download it");
        }
    }
    std::vector<const GgufTensorInfo*> by_offset;
    by_offset.reserve(tensors.size());
    for (const GgufTensorInfo& t : tensors) by_offset.push_back(&t);
    std::sort(by_offset.begin(), by_offset.end(),
              [](const GgufTensorInfo* a, const GgufTensorInfo* b) { return a->offset < b->offset; });
    for (std::size_t i = 1; i < by_offset.size(); ++i) {
        const GgufTensorInfo& a = *by_offset[i - 1];
        const GgufTensorInfo& b = *by_offset[i];
        if (a.offset + a.num_bytes > b.offset) {
            cur.fail(
                "the data of tensors '" + printable(a.name) + "' (bytes " + std::to_string(data_offset + a.offset) +
                ".." + std::to_string(data_offset + a.offset + a.num_bytes) + ") and '" + printable(b.name) +
                "' (bytes " + std::to_string(data_offset + b.offset) + ".." +
                std::to_string(data_offset + b.offset + b.num_bytes) + ") overlap; the file is corrupt, re-convert it");
        }
    }
}

}  // namespace

std::optional<std::uint64_t> gguf_tensor_num_bytes(TensorType type, std::span<const std::int64_t> shape) {
    const TensorTypeInfo& info = type_info(type);
    if (shape.empty()) return std::nullopt;
    std::uint64_t num_rows = 1;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] <= 0) return std::nullopt;
        if (d > 0 && __builtin_mul_overflow(num_rows, static_cast<std::uint64_t>(shape[d]), &num_rows)) {
            return std::nullopt;
        }
    }
    if (shape[0] % info.block_elems != 0) return std::nullopt;
    const std::uint64_t row = static_cast<std::uint64_t>(shape[0] / info.block_elems) * info.block_bytes;
    std::uint64_t total = 0;
    if (__builtin_mul_overflow(num_rows, row, &total)) return std::nullopt;
    return total;
}

std::int64_t GgufTensorInfo::num_elements() const {
    std::int64_t n = 1;
    for (std::int64_t d : shape) n *= d;
    return n;
}

GgufFile GgufFile::open(const std::string& path) {
    GgufFile f;
    f.file_ = MappedFile::open(path);
    f.parse();
    return f;
}

GgufFile GgufFile::from_memory(std::span<const std::uint8_t> bytes, std::string name) {
    GgufFile f;
    f.file_ = MappedFile::borrow(bytes, std::move(name));
    f.parse();
    return f;
}

void GgufFile::parse() {
    GgufCursor cur(file_.bytes(), file_.name());
    const Header header = read_header(cur, file_.bytes());
    version_ = header.version;
    read_metadata(cur, header.num_kv, metadata_);
    alignment_ = read_alignment(cur, *this);
    read_tensor_infos(cur, header.num_tensors, alignment_, tensors_);
    // The data section starts at the next multiple of the alignment (the file may end before it
    // when there are no tensors).
    data_offset_ = (cur.offset() + alignment_ - 1) / alignment_ * alignment_;
    check_tensor_data(cur, tensors_, data_offset_);
}

std::span<const std::uint8_t> GgufFile::tensor_data(const GgufTensorInfo& tensor) const {
    KV_CHECK(tensor.offset <= file_.size() && tensor.num_bytes <= file_.size() - data_offset_ - tensor.offset);
    return file_.bytes().subspan(static_cast<std::size_t>(data_offset_ + tensor.offset),
                                 static_cast<std::size_t>(tensor.num_bytes));
}

}  // namespace kvscope
