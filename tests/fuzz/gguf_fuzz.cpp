// Fuzz target: a GGUF file from any bytes. Opening either throws kvscope::Error with a one-line
// message, or succeeds; then every value and tensor byte can be read (inside the input), and
// loading it as a model (config, tokenizer, weights, chat template) again either works or throws
// kvscope::Error. Any other exception escapes and aborts: that is a finding. (gguf_fuzz_test.cpp
// runs fixed corruptions of a small file in every build; this target goes on from real models.)

#include <cstring>
#include <span>
#include <string>

#include "engine/error.h"
#include "engine/gguf.h"
#include "engine/model.h"
#include "tests/fuzz/fuzz_target.h"

namespace {

FuzzTally tally{"gguf_fuzz (loaded as a model)"};

void check_message(const kvscope::Error& e) {
    const std::string msg = e.what();
    FUZZ_CHECK(!msg.empty());
    FUZZ_CHECK(msg.find('\n') == std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kvscope;
    const std::span<const std::uint8_t> bytes(data, size);
    try {
        GgufFile file = GgufFile::from_memory(bytes, "fuzz.gguf");
        std::size_t sink = 0;
        for (const auto& [key, value] : file.metadata()) sink += key.size() + value.to_display_string().size();
        for (const GgufTensorInfo& t : file.tensors()) {
            const std::span<const std::uint8_t> d = file.tensor_data(t);
            FUZZ_CHECK(d.size() == t.num_bytes);
            FUZZ_CHECK(d.empty() || (d.data() >= data && d.data() + d.size() <= data + size));
            if (!d.empty()) sink += d.front() + d.back();
        }
        FUZZ_CHECK(sink + 1 > 0);
        try {
            const auto model = Model::load(std::move(file));
            FUZZ_CHECK(model->tokenizer().vocab_size() > 0);
            const auto ids = model->tokenizer().encode("Hi there", true, true);
            for (std::int32_t id : ids) FUZZ_CHECK(id >= 0 && id < model->tokenizer().vocab_size());
            ++tally.accepted;
        } catch (const Error& e) {
            check_message(e);
            ++tally.refused;
        }
    } catch (const Error& e) {
        check_message(e);
        FUZZ_CHECK(std::strncmp(e.what(), "fuzz.gguf", 9) == 0);
        ++tally.refused;
    }
    return 0;
}
