// The portable fuzz driver (no clang needed): runs every file of the seed corpus, then mutates
// them at random, deterministically from --seed, for --iterations inputs or --seconds of time.
//
//   fuzz_gguf [--iterations N] [--seconds S] [--seed N] [--max-len BYTES] CORPUS_DIR...
//   (or KVSCOPE_FUZZ_ITERATIONS / KVSCOPE_FUZZ_SECONDS in the environment; flags win)
//
// Mutations are libFuzzer's kinds without its coverage feedback: bit flips, random and
// "interesting" bytes and integers, inserted, erased, duplicated and spliced ranges, truncation.
// An input that crashes (a signal, an invariant's abort, an escaped exception) is written to
// fuzz-crash-<target>.bin in the working directory before the process dies, so it can be rerun
// (`fuzz_gguf fuzz-crash-fuzz_gguf.bin`) and kept as a regression test.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/fuzz_target.h"

namespace {

using Bytes = std::vector<std::uint8_t>;

// What the signal handler writes out: the input being run.
const Bytes* g_current = nullptr;
char g_crash_path[512] = "fuzz-crash.bin";

void on_crash(int sig) {
    if (g_current != nullptr) {
        const int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            const ssize_t written = ::write(fd, g_current->data(), g_current->size());
            (void)written;
            ::close(fd);
        }
        static const char msg[] = "fuzz driver: crashing input saved\n";
        const ssize_t w = ::write(2, msg, sizeof msg - 1);
        (void)w;
    }
    std::signal(sig, SIG_DFL);
    std::raise(sig);
}

void run_one(const Bytes& input) {
    g_current = &input;
    LLVMFuzzerTestOneInput(input.data(), input.size());
    g_current = nullptr;
}

Bytes read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class Mutator {
public:
    Mutator(std::uint64_t seed, std::size_t max_len) : rng_(seed), max_len_(max_len) {}

    Bytes mutate(const std::vector<Bytes>& pool) {
        Bytes b = pool[pick(pool.size())];
        const int rounds = 1 + static_cast<int>(pick(8));
        for (int r = 0; r < rounds; ++r) mutate_once(b, pool);
        if (b.size() > max_len_) b.resize(max_len_);
        return b;
    }

private:
    std::size_t pick(std::size_t n) { return n == 0 ? 0 : static_cast<std::size_t>(rng_() % n); }

    void put_int(Bytes& b, std::size_t pos, std::uint64_t v, std::size_t width) {
        for (std::size_t i = 0; i < width && pos + i < b.size(); ++i)
            b[pos + i] = static_cast<std::uint8_t>(v >> (8 * i));
    }

    void mutate_once(Bytes& b, const std::vector<Bytes>& pool) {
        static const std::uint64_t interesting[] = {
            0,      1,          2,          7,          8,          9,          16,         31,         32,
            64,     127,        128,        255,        256,        1024,       4096,       0x7FFF,     0x8000,
            0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1ull << 32, 1ull << 40, 1ull << 62, 1ull << 63, ~0ull};
        static const char* const tokens[] = {"\"",
                                             "\\",
                                             "{",
                                             "}",
                                             "[",
                                             "]",
                                             ":",
                                             ",",
                                             "0",
                                             "-1",
                                             "1e999",
                                             "null",
                                             "true",
                                             "\\u0000",
                                             "\\ud800",
                                             "\xC3",
                                             "\xE2\x96\x81",
                                             "\xF0\x9F\x98",
                                             "\xFF",
                                             " ",
                                             "\n",
                                             "<s>",
                                             "</s>",
                                             "<|im_start|>",
                                             "<0x0A>",
                                             "\xEF\xBF\xBD",
                                             "1e308",
                                             "18446744073709551616"};
        const std::size_t pos = pick(b.size() + 1);
        switch (pick(10)) {
            case 0:
                if (!b.empty()) b[pick(b.size())] ^= static_cast<std::uint8_t>(1u << pick(8));
                break;
            case 1:
                if (!b.empty()) b[pick(b.size())] = static_cast<std::uint8_t>(rng_());
                break;
            case 2: {  // an interesting integer, 1/2/4/8 bytes little-endian
                if (b.empty()) break;
                const std::size_t width = std::size_t{1} << pick(4);
                put_int(b, pick(b.size()), interesting[pick(std::size(interesting))], width);
                break;
            }
            case 3: {  // erase a range
                if (b.empty()) break;
                const std::size_t start = pick(b.size());
                const std::size_t len = 1 + pick(std::min<std::size_t>(b.size() - start, 64));
                b.erase(b.begin() + static_cast<std::ptrdiff_t>(start),
                        b.begin() + static_cast<std::ptrdiff_t>(start + len));
                break;
            }
            case 4: {  // insert random bytes
                const std::size_t len = 1 + pick(16);
                Bytes r(len);
                for (auto& x : r) x = static_cast<std::uint8_t>(rng_());
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), r.begin(), r.end());
                break;
            }
            case 5: {  // duplicate a range of itself
                if (b.empty()) break;
                const std::size_t start = pick(b.size());
                const std::size_t len = 1 + pick(std::min<std::size_t>(b.size() - start, 256));
                const Bytes chunk(b.begin() + static_cast<std::ptrdiff_t>(start),
                                  b.begin() + static_cast<std::ptrdiff_t>(start + len));
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), chunk.begin(), chunk.end());
                break;
            }
            case 6: {  // splice in a range of another corpus input
                const Bytes& other = pool[pick(pool.size())];
                if (other.empty()) break;
                const std::size_t start = pick(other.size());
                const std::size_t len = 1 + pick(other.size() - start);
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos),
                         other.begin() + static_cast<std::ptrdiff_t>(start),
                         other.begin() + static_cast<std::ptrdiff_t>(start + len));
                break;
            }
            case 7:
                b.resize(pick(b.size() + 1));
                break;
            case 8: {  // a token that means something to one of the parsers
                const std::string t = tokens[pick(std::size(tokens))];
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), t.begin(), t.end());
                break;
            }
            default: {  // a run of one byte (long words, deep nesting)
                const std::size_t len = 1 + pick(pick(8) == 0 ? 4096 : 64);
                b.insert(b.begin() + static_cast<std::ptrdiff_t>(pos), len,
                         pick(2)     ? static_cast<std::uint8_t>(rng_())
                         : b.empty() ? 'a'
                                     : b[pick(b.size())]);
            }
        }
    }

    std::mt19937_64 rng_;
    std::size_t max_len_;
};

long long env_number(const char* name, long long fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::atoll(v) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string target = std::filesystem::path(argv[0]).filename().string();
    long long iterations = env_number("KVSCOPE_FUZZ_ITERATIONS", 1000);
    double seconds = static_cast<double>(env_number("KVSCOPE_FUZZ_SECONDS", 0));
    std::uint64_t seed = 1;
    std::size_t max_len = 1 << 16;
    std::vector<std::filesystem::path> inputs;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::cerr << target << ": " << a << " needs a value\n";
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--iterations") {
            iterations = std::stoll(value());
        } else if (a == "--seconds") {
            seconds = std::stod(value());
        } else if (a == "--seed") {
            seed = std::stoull(value());
        } else if (a == "--max-len") {
            max_len = std::stoull(value());
        } else if (a == "--help" || a.rfind("--", 0) == 0) {
            std::cerr << "usage: " << target << " [--iterations N] [--seconds S] [--seed N] [--max-len BYTES] "
                      << "CORPUS_DIR_OR_FILE...\n";
            return a == "--help" ? 0 : 2;
        } else {
            inputs.emplace_back(a);
        }
    }
    std::snprintf(g_crash_path, sizeof g_crash_path, "fuzz-crash-%s.bin", target.c_str());
    for (int sig : {SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL}) std::signal(sig, on_crash);

    // The corpus, in a fixed order, each input run once as it is.
    std::vector<Bytes> pool;
    for (const auto& in : inputs) {
        std::vector<std::filesystem::path> files;
        if (std::filesystem::is_directory(in)) {
            for (const auto& e : std::filesystem::directory_iterator(in)) files.push_back(e.path());
        } else if (std::filesystem::exists(in)) {
            files.push_back(in);
        } else {
            std::cerr << target << ": no such file or directory: " << in.string() << "\n";
            return 2;
        }
        std::sort(files.begin(), files.end());
        for (const auto& f : files) pool.push_back(read_file(f));
    }
    if (pool.empty()) pool.emplace_back();
    const auto start = std::chrono::steady_clock::now();
    for (const Bytes& b : pool) run_one(b);

    // Mutants; a tenth of those that ran join the pool, so mutations stack over time.
    Mutator mutator(seed, max_len);
    long long executions = static_cast<long long>(pool.size());
    std::mt19937_64 keep(seed ^ 0x9E3779B97F4A7C15ull);
    const std::size_t seeds = pool.size();
    for (long long n = 0;; ++n) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (seconds > 0 ? elapsed >= seconds : n >= iterations) break;
        Bytes b = mutator.mutate(pool);
        run_one(b);
        ++executions;
        if (keep() % 10 == 0) {
            if (pool.size() < seeds + 4096) {
                pool.push_back(std::move(b));
            } else {
                pool[seeds + keep() % 4096] = std::move(b);
            }
        }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::cout << target << ": " << executions << " executions (" << seeds << " corpus inputs), seed " << seed << ", "
              << elapsed << " s, no crash\n";
    return 0;
}
