// The GGUF writer: exact bytes against hand-assembled ones, round trips through the reader of
// every value type and of tensors of several types and alignments, v2 and v3, streamed tensors,
// input validation, and atomic writes that leave nothing behind when they fail.

#include "engine/gguf_writer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/error.h"
#include "tests/support/gguf_bytes.h"
#include "tests/support/paths.h"

namespace kvscope {
namespace gguf_writer_test {

namespace fs = std::filesystem;
using test::GgufBytes;

std::vector<std::uint8_t> float_bytes(std::vector<float> v) {
    std::vector<std::uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.data(), out.size());
    return out;
}

std::vector<std::uint8_t> random_bytes(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> out(n);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    return out;
}

std::vector<std::uint8_t> read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> dir_entries(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

TEST(GgufWriter, WritesExactlyTheSpecifiedBytes) {
    for (std::uint32_t version : {2u, 3u}) {
        GgufWriter w;
        w.set_u32("a.b", 7);
        w.set_string("s", "hi");
        w.add_tensor("t", {2}, TensorType::F32, float_bytes({1.0f, 2.0f}));
        GgufBytes expected;
        expected.header(version, 1, 2).kv_u32("a.b", 7).kv_string("s", "hi").tensor_info("t", {2}, 0, 0);
        expected.pad_to(32).raw(float_bytes({1.0f, 2.0f}));
        EXPECT_EQ(w.to_bytes(version), expected.bytes()) << "version " << version;
        EXPECT_EQ(w.file_size(), expected.size());
    }
}

TEST(GgufWriter, WritesEveryValueEncodingExactly) {
    GgufWriter w;
    w.set("u8", GgufValue::u8(0xAB));
    w.set("i16", GgufValue::i16(-2));
    w.set("f64", GgufValue::f64(0.5));
    w.set_bool("b", true);
    w.set("nest",
          GgufValue::array(GgufValueType::Array, {GgufValue::array(GgufValueType::String, {GgufValue::string("x")})}));
    GgufBytes e;
    e.header(3, 0, 5);
    e.key("u8", 0).u8(0xAB);
    e.key("i16", 3).put<std::int16_t>(-2);
    e.key("f64", 12).put<double>(0.5);
    e.key("b", 7).u8(1);
    e.key("nest", 9).u32(9).u64(1).u32(8).u64(1).str("x");
    e.pad_to(32);
    EXPECT_EQ(w.to_bytes(), e.bytes());
}

GgufWriter every_value_type_writer() {
    GgufWriter w;
    w.set("t.u8", GgufValue::u8(255));
    w.set("t.i8", GgufValue::i8(-128));
    w.set("t.u16", GgufValue::u16(65535));
    w.set("t.i16", GgufValue::i16(-32768));
    w.set_u32("t.u32", 4294967295u);
    w.set_i32("t.i32", -2147483647 - 1);
    w.set("t.u64", GgufValue::u64(18446744073709551615ull));
    w.set("t.i64", GgufValue::i64(-9223372036854775807LL - 1));
    w.set_f32("t.f32", -0.1f);
    w.set("t.f64", GgufValue::f64(1e300));
    w.set_bool("t.bool_true", true);
    w.set_bool("t.bool_false", false);
    w.set_string("t.empty_string", "");
    w.set_string("t.unicode", "\xE2\x96\x81hello \xF0\x9F\x98\x80 \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87");
    w.set_string_array("t.strings", {"<unk>", "", "\xE2\x96\x81the"});
    w.set_f32_array("t.floats", {0.0f, -1.5f, 3.25f});
    w.set_i32_array("t.ints", {1, -2, 2147483647});
    w.set_string_array("t.empty_strings", {});
    w.set("t.empty_u64s", GgufValue::array(GgufValueType::Uint64, {}));
    w.set("t.bools", GgufValue::array(GgufValueType::Bool, {GgufValue::boolean(true), GgufValue::boolean(false)}));
    // [[[1, 2], []], [[3]]] : three levels, with an empty array inside.
    auto u16s = [](std::vector<std::uint16_t> v) {
        GgufValue::Array a;
        for (auto x : v) a.push_back(GgufValue::u16(x));
        return GgufValue::array(GgufValueType::Uint16, a);
    };
    w.set("t.nested",
          GgufValue::array(GgufValueType::Array, {GgufValue::array(GgufValueType::Array, {u16s({1, 2}), u16s({})}),
                                                  GgufValue::array(GgufValueType::Array, {u16s({3})})}));
    w.set("t.empty_nested", GgufValue::array(GgufValueType::Array, {}));
    return w;
}

class GgufWriterVersion : public ::testing::TestWithParam<std::uint32_t> {};

TEST_P(GgufWriterVersion, RoundTripsEveryValueType) {
    const GgufWriter w = every_value_type_writer();
    const auto path = test::temp_dir() / "values.gguf";
    w.write(path.string(), GetParam());
    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.version(), GetParam());
    ASSERT_EQ(f.metadata().size(), w.metadata().size());
    for (std::size_t i = 0; i < w.metadata().size(); ++i) {
        EXPECT_EQ(f.metadata()[i].first, w.metadata()[i].first);
        EXPECT_EQ(f.metadata()[i].second, w.metadata()[i].second) << w.metadata()[i].first;
    }
    // Spot checks against literal values, not only against what was set.
    EXPECT_EQ(f.get_int("t.i64"), -9223372036854775807LL - 1);
    EXPECT_EQ(f.find("t.u64")->as_uint(), 18446744073709551615ull);
    EXPECT_EQ(f.get_float("t.f32"), static_cast<double>(-0.1f));
    EXPECT_EQ(f.get_float("t.f64"), 1e300);
    EXPECT_EQ(f.get_bool("t.bool_false"), false);
    EXPECT_EQ(f.get_string("t.unicode"),
              "\xE2\x96\x81hello \xF0\x9F\x98\x80 \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87");
    EXPECT_EQ(f.get_string("t.empty_string"), "");
    EXPECT_EQ(f.get_string_array("t.strings"), (std::vector<std::string>{"<unk>", "", "\xE2\x96\x81the"}));
    EXPECT_EQ(f.get_string_array("t.empty_strings"), std::vector<std::string>{});
    EXPECT_EQ(f.get_int_array("t.ints"), (std::vector<std::int64_t>{1, -2, 2147483647}));
    EXPECT_EQ(f.get_float_array("t.floats"), (std::vector<float>{0.0f, -1.5f, 3.25f}));
    EXPECT_EQ(f.find("t.nested")->to_display_string(), "[[[1, 2], []], [[3]]]");
    EXPECT_EQ(f.find("t.empty_nested")->to_display_string(), "[]");
    EXPECT_TRUE(f.tensors().empty());
}

INSTANTIATE_TEST_SUITE_P(V2AndV3, GgufWriterVersion, ::testing::Values(2u, 3u));

struct TensorCase {
    const char* name;
    std::vector<std::int64_t> shape;
    TensorType type;
    std::uint64_t num_bytes;  // by hand from the block geometry
};

const std::vector<TensorCase>& tensor_cases() {
    static const std::vector<TensorCase> cases = {
        {"f32", {5, 3}, TensorType::F32, 5 * 3 * 4},         {"f16", {7}, TensorType::F16, 7 * 2},
        {"q8_0", {64, 2}, TensorType::Q8_0, 2 * 2 * 34},     {"q4_0", {32, 1, 3}, TensorType::Q4_0, 3 * 18},
        {"q4_k", {256, 2, 1, 2}, TensorType::Q4_K, 4 * 144}, {"q6_k", {512}, TensorType::Q6_K, 2 * 210},
        {"iq2_xxs", {256}, TensorType::IQ2_XXS, 66},         {"bf16", {3}, TensorType::BF16, 6},
    };
    return cases;
}

class GgufWriterAlignment : public ::testing::TestWithParam<std::size_t> {};

TEST_P(GgufWriterAlignment, RoundTripsTensorsOfSeveralTypes) {
    const std::size_t alignment = GetParam();
    GgufWriter w;
    w.set_string("general.architecture", "test");
    if (alignment != 32) w.set_alignment(alignment);
    std::vector<std::vector<std::uint8_t>> data;
    for (const TensorCase& c : tensor_cases()) {
        data.push_back(random_bytes(c.num_bytes, static_cast<std::uint32_t>(data.size())));
        w.add_tensor(c.name, c.shape, c.type, data.back());
    }
    const std::vector<std::uint8_t> bytes = w.to_bytes();
    EXPECT_EQ(w.file_size(), bytes.size());
    const GgufFile f = GgufFile::from_memory(bytes, "tensors.gguf");
    EXPECT_EQ(f.alignment(), alignment);
    EXPECT_EQ(f.data_offset() % alignment, 0u);
    ASSERT_EQ(f.tensors().size(), tensor_cases().size());
    std::uint64_t previous_end = 0;
    for (std::size_t i = 0; i < tensor_cases().size(); ++i) {
        const TensorCase& c = tensor_cases()[i];
        const GgufTensorInfo& t = f.tensors()[i];
        EXPECT_EQ(t.name, c.name);
        EXPECT_EQ(t.shape, c.shape);
        EXPECT_EQ(t.type, c.type);
        EXPECT_EQ(t.num_bytes, c.num_bytes) << c.name;
        // Packed in order, each at the first multiple of the alignment after the previous one.
        EXPECT_EQ(t.offset % alignment, 0u) << c.name;
        EXPECT_GE(t.offset, previous_end) << c.name;
        EXPECT_LT(t.offset - previous_end, alignment) << c.name;
        previous_end = t.offset + t.num_bytes;
        const auto got = f.tensor_data(t);
        EXPECT_TRUE(std::equal(got.begin(), got.end(), data[i].begin(), data[i].end())) << c.name;
    }
    EXPECT_EQ(f.data_offset() + previous_end, bytes.size());
}

INSTANTIATE_TEST_SUITE_P(Alignments, GgufWriterAlignment, ::testing::Values(32u, 64u));

TEST(GgufWriter, SetReplacesAKeyInPlace) {
    GgufWriter w;
    w.set_u32("a", 1);
    w.set_u32("b", 2);
    w.set_u32("c", 3);
    w.set_string("b", "two");
    ASSERT_EQ(w.metadata().size(), 3u);
    EXPECT_EQ(w.metadata()[0].first, "a");
    EXPECT_EQ(w.metadata()[1].first, "b");
    EXPECT_EQ(w.metadata()[1].second, GgufValue::string("two"));
    EXPECT_EQ(w.metadata()[2].first, "c");
    const GgufFile f = GgufFile::from_memory(w.to_bytes(), "set.gguf");
    EXPECT_EQ(f.metadata()[1].first, "b");
    EXPECT_EQ(f.get_string("b"), "two");
}

TEST(GgufWriter, ValidatesKeysAndAlignment) {
    GgufWriter w;
    EXPECT_THROW(w.set_u32("", 1), ConfigError);
    EXPECT_THROW(w.set_u32(std::string(65536, 'k'), 1), ConfigError);
    EXPECT_NO_THROW(w.set_u32(std::string(65535, 'k'), 1));
    EXPECT_THROW(w.set_alignment(0), ConfigError);
    EXPECT_THROW(w.set_alignment(48), ConfigError);
    EXPECT_THROW(w.set_string("general.alignment", "64"), ConfigError);
    EXPECT_THROW(w.set("general.alignment", GgufValue::u64(64)), ConfigError);
    EXPECT_THROW(w.set_u32("general.alignment", 24), ConfigError);
    EXPECT_EQ(w.alignment(), 32u);
    w.set_u32("general.alignment", 128);  // the key itself sets the alignment
    EXPECT_EQ(w.alignment(), 128u);
    w.set_alignment(16);
    EXPECT_EQ(w.alignment(), 16u);
    EXPECT_EQ(w.metadata().back().second, GgufValue::u32(16));
}

TEST(GgufWriter, ValidatesTensors) {
    GgufWriter w;
    const std::vector<std::uint8_t> f32x4(16, 0);
    w.add_tensor("a", {4}, TensorType::F32, f32x4);
    EXPECT_THROW(w.add_tensor("a", {4}, TensorType::F32, f32x4), ConfigError);              // duplicate
    EXPECT_THROW(w.add_tensor("", {4}, TensorType::F32, f32x4), ConfigError);               // no name
    EXPECT_THROW(w.add_tensor("b", {}, TensorType::F32, f32x4), ConfigError);               // no dims
    EXPECT_THROW(w.add_tensor("b", {1, 1, 1, 1, 4}, TensorType::F32, f32x4), ConfigError);  // 5 dims
    EXPECT_THROW(w.add_tensor("b", {4, 0}, TensorType::F32, f32x4), ConfigError);           // empty
    EXPECT_THROW(w.add_tensor("b", {-4}, TensorType::F32, f32x4), ConfigError);             // negative
    EXPECT_THROW(w.add_tensor("b", {5}, TensorType::F32, f32x4), ConfigError);              // size mismatch
    EXPECT_THROW(w.add_tensor("b", {48}, TensorType::Q4_0, std::vector<std::uint8_t>(27)), ConfigError);  // 48 % 32
    EXPECT_THROW(w.add_tensor("b", {1LL << 40, 1LL << 40}, TensorType::F32, GgufWriter::FillFn([](auto, auto) {})),
                 ConfigError);                                                                 // overflow
    EXPECT_THROW(w.add_tensor("b", {4}, TensorType::F32, GgufWriter::FillFn()), ConfigError);  // no fill
    EXPECT_EQ(w.num_tensors(), 1u);
    EXPECT_THROW(w.to_bytes(4), ConfigError);
    EXPECT_THROW(w.to_bytes(1), ConfigError);
}

// A byte pattern that depends on the position, computed independently of the writer.
std::uint8_t pattern(std::uint64_t i, std::uint64_t salt) {
    return static_cast<std::uint8_t>((i * 131 + salt) >> 3);
}

TEST(GgufWriter, StreamsLargeTensorsInWholeRows) {
    struct Call {
        std::uint64_t offset;
        std::size_t size;
    };
    std::vector<Call> f32_calls, q4_calls;
    GgufWriter w;
    // F32 [1024, 1536]: 6 MiB, rows of 4096 bytes. Q4_0 [3200, 3000]: rows of 100 * 18 = 1800 bytes.
    w.add_tensor("big_f32", {1024, 1536}, TensorType::F32, [&](std::uint64_t offset, std::span<std::uint8_t> out) {
        f32_calls.push_back({offset, out.size()});
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern(offset + i, 1);
    });
    w.add_tensor("big_q4", {3200, 3000}, TensorType::Q4_0, [&](std::uint64_t offset, std::span<std::uint8_t> out) {
        q4_calls.push_back({offset, out.size()});
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = pattern(offset + i, 2);
    });
    const auto path = test::temp_dir() / "big.gguf";
    w.write(path.string());

    auto check_calls = [](const std::vector<Call>& calls, std::uint64_t total, std::uint64_t row) {
        ASSERT_GE(calls.size(), 2u);
        std::uint64_t expected_offset = 0;
        for (const Call& c : calls) {
            EXPECT_EQ(c.offset, expected_offset);
            EXPECT_EQ(c.size % row, 0u);
            EXPECT_GT(c.size, 0u);
            expected_offset += c.size;
        }
        EXPECT_EQ(expected_offset, total);
    };
    check_calls(f32_calls, 1024ull * 1536 * 4, 4096);
    check_calls(q4_calls, 3000ull * 1800, 1800);

    const GgufFile f = GgufFile::open(path.string());
    EXPECT_EQ(f.file_size(), w.file_size());
    for (std::uint64_t salt : {1, 2}) {
        const GgufTensorInfo& t = f.tensors()[salt - 1];
        const auto bytes = f.tensor_data(t);
        std::size_t mismatches = 0;
        for (std::size_t i = 0; i < bytes.size(); ++i) mismatches += bytes[i] != pattern(i, salt);
        EXPECT_EQ(mismatches, 0u) << t.name;
    }
    EXPECT_EQ(dir_entries(path.parent_path()), std::vector<std::string>{"big.gguf"});
}

GgufWriter small_writer(const std::string& name) {
    GgufWriter w;
    w.set_string("general.name", name);
    w.add_tensor("t", {4}, TensorType::F32, float_bytes({1, 2, 3, 4}));
    return w;
}

TEST(GgufWriter, ReplacesAnExistingFile) {
    const auto dir = test::temp_dir();
    const std::string path = (dir / "m.gguf").string();
    small_writer("first").write(path);
    small_writer("second").write(path);
    EXPECT_EQ(GgufFile::open(path).get_string("general.name"), "second");
    EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"m.gguf"});
}

TEST(GgufWriter, FailingFillLeavesNoTraceAndTheOldFileIntact) {
    const auto dir = test::temp_dir();
    const std::string path = (dir / "m.gguf").string();
    small_writer("old").write(path);
    const std::vector<std::uint8_t> before = read_file(path);
    GgufWriter w = small_writer("new");
    w.add_tensor("bad", {1024}, TensorType::F32,
                 [](std::uint64_t, std::span<std::uint8_t>) { throw std::runtime_error("generator failed"); });
    EXPECT_THROW(w.write(path), std::runtime_error);
    EXPECT_EQ(read_file(path), before);
    EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"m.gguf"});
}

void expect_write_error(const GgufWriter& w, const std::string& path, std::initializer_list<std::string_view> phrases) {
    try {
        w.write(path);
        ADD_FAILURE() << "expected a FileError";
    } catch (const FileError& e) {
        const std::string msg = e.what();
        EXPECT_EQ(msg.rfind(path + ": cannot write the GGUF file", 0), 0u) << msg;
        EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
        for (std::string_view p : phrases) EXPECT_NE(msg.find(p), std::string::npos) << "'" << p << "' in: " << msg;
    }
}

TEST(GgufWriter, MissingDirectory) {
    const auto dir = test::temp_dir();
    expect_write_error(small_writer("x"), (dir / "no" / "m.gguf").string(), {"create the directory first"});
    EXPECT_TRUE(dir_entries(dir).empty());
}

TEST(GgufWriter, UnwritableDirectory) {
    // /proc refuses new files even to root.
    expect_write_error(small_writer("x"), "/proc/kvscope-test.gguf", {"cannot create a temporary file in /proc"});
    if (::geteuid() != 0) {
        const auto dir = test::temp_dir();
        fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
        expect_write_error(small_writer("x"), (dir / "m.gguf").string(), {"choose a directory you can write to"});
        fs::permissions(dir, fs::perms::owner_all);
        EXPECT_TRUE(dir_entries(dir).empty());
    }
}

TEST(GgufWriter, TargetIsADirectory) {
    const auto dir = test::temp_dir();
    fs::create_directory(dir / "m.gguf");
    expect_write_error(small_writer("x"), (dir / "m.gguf").string(), {"Is a directory", "give a file name"});
    EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"m.gguf"});
}

// A file larger than the disk's free space is refused before a byte is written.
TEST(GgufWriter, AFileTheDiskHasNoRoomForIsRefusedUpFront) {
    const auto dir = test::temp_dir();
    GgufWriter w = small_writer("huge");
    bool filled = false;
    w.add_tensor("huge", {std::int64_t{1} << 26, std::int64_t{1} << 26}, TensorType::F32,  // 16 PiB
                 [&](std::uint64_t, std::span<std::uint8_t>) { filled = true; });
    expect_write_error(w, (dir / "m.gguf").string(), {"it needs", "GiB free", "free some disk space"});
    EXPECT_FALSE(filled);
    EXPECT_TRUE(dir_entries(dir).empty());
}

TEST(GgufWriter, BadVersionCreatesNoFile) {
    const auto dir = test::temp_dir();
    EXPECT_THROW(small_writer("x").write((dir / "m.gguf").string(), 1), ConfigError);
    EXPECT_TRUE(dir_entries(dir).empty());
}

// A full disk, simulated in a child process by a file size limit (writes past it fail with
// EFBIG once SIGXFSZ is ignored). The child reports by exit code; the parent checks the files.
TEST(GgufWriter, FullDiskLeavesNoTraceAndTheOldFileIntact) {
    const auto dir = test::temp_dir();
    const std::string path = (dir / "m.gguf").string();
    small_writer("old").write(path);
    const std::vector<std::uint8_t> before = read_file(path);
    GgufWriter big = small_writer("new");
    big.add_tensor("big", {1024, 256}, TensorType::F32,
                   [](std::uint64_t, std::span<std::uint8_t> out) { std::fill(out.begin(), out.end(), 7); });

    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        std::signal(SIGXFSZ, SIG_IGN);
        const rlimit limit{64 * 1024, 64 * 1024};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(10);
        try {
            big.write(path);
            ::_exit(11);  // should have failed
        } catch (const FileError& e) {
            const std::string msg = e.what();
            const bool ok = msg.rfind(path + ": cannot write the GGUF file", 0) == 0 &&
                            msg.find("File too large") != std::string::npos && msg.find('\n') == std::string::npos;
            ::_exit(ok ? 0 : 12);
        } catch (...) {
            ::_exit(13);
        }
    }
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    EXPECT_EQ(read_file(path), before);
    EXPECT_EQ(dir_entries(dir), std::vector<std::string>{"m.gguf"});
}

}  // namespace gguf_writer_test
}  // namespace kvscope
