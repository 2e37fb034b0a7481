#include "engine/workload.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "engine/error.h"
#include "engine/rng.h"

namespace kvscope {
namespace {

double parse_number(const std::string& text, const std::string& what, const std::string& whole) {
    std::size_t used = 0;
    double v = 0;
    try {
        v = std::stod(text, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (used == 0 || used != text.size() || !std::isfinite(v) || v < 0) {
        throw ConfigError(what + ": cannot read '" + whole +
                          "'; use a length (128), uniform:LOW-HIGH (uniform:32-512) or normal:MEAN,STDDEV "
                          "(normal:256,64) or lognormal:MEAN,SIGMA (lognormal:161,1.0)");
    }
    return v;
}

// A standard normal draw (Box-Muller) from the portable generator.
double normal(SequenceRandom& random) {
    const double u1 = std::max(random.uniform01(), 1e-300), u2 = random.uniform01();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
}

std::int32_t draw(const LengthDistribution& d, SequenceRandom& random) {
    double v = d.a;
    switch (d.kind) {
        case LengthDistribution::Kind::Fixed:
            break;
        case LengthDistribution::Kind::Uniform:
            v = std::floor(d.a + random.uniform01() * (d.b - d.a + 1));
            break;
        case LengthDistribution::Kind::Normal:
            v = std::round(d.a + d.b * normal(random));
            break;
        case LengthDistribution::Kind::LogNormal:  // mean a: mu = ln(a) - sigma^2 / 2
            v = std::round(std::exp(std::log(d.a) - d.b * d.b / 2 + d.b * normal(random)));
            break;
    }
    return static_cast<std::int32_t>(std::clamp(v, 1.0, 1e7));
}

}  // namespace

LengthDistribution LengthDistribution::parse(const std::string& text, const std::string& what) {
    LengthDistribution d;
    if (text.rfind("uniform:", 0) == 0) {
        const std::string body = text.substr(8);
        const std::size_t dash = body.find('-');
        if (dash == std::string::npos) parse_number("", what, text);
        d.kind = Kind::Uniform;
        d.a = parse_number(body.substr(0, dash), what, text);
        d.b = parse_number(body.substr(dash + 1), what, text);
        if (d.b < d.a) throw ConfigError(what + ": '" + text + "' has its high end below its low end");
    } else if (text.rfind("normal:", 0) == 0) {
        const std::string body = text.substr(7);
        const std::size_t comma = body.find(',');
        if (comma == std::string::npos) parse_number("", what, text);
        d.kind = Kind::Normal;
        d.a = parse_number(body.substr(0, comma), what, text);
        d.b = parse_number(body.substr(comma + 1), what, text);
    } else if (text.rfind("lognormal:", 0) == 0) {
        const std::string body = text.substr(10);
        const std::size_t comma = body.find(',');
        if (comma == std::string::npos) parse_number("", what, text);
        d.kind = Kind::LogNormal;
        d.a = parse_number(body.substr(0, comma), what, text);
        d.b = parse_number(body.substr(comma + 1), what, text);
        if (d.b > 4) throw ConfigError(what + ": '" + text + "' has a sigma above 4; use a smaller spread");
    } else {
        d.kind = Kind::Fixed;
        d.a = parse_number(text, what, text);
    }
    if (d.a < 1 && d.kind != Kind::Normal) throw ConfigError(what + ": lengths must be at least 1, got '" + text + "'");
    return d;
}

std::string LengthDistribution::to_string() const {
    std::ostringstream s;
    switch (kind) {
        case Kind::Fixed:
            s << a;
            break;
        case Kind::Uniform:
            s << "uniform:" << a << "-" << b;
            break;
        case Kind::Normal:
            s << "normal:" << a << "," << b;
            break;
        case Kind::LogNormal:
            s << "lognormal:" << a << "," << b;
            break;
    }
    return s.str();
}

double LengthDistribution::mean() const {
    return kind == Kind::Uniform ? (a + b) / 2 : a;
}

void WorkloadSpec::validate() const {
    if (num_requests < 1) throw ConfigError("workload: the number of requests must be at least 1");
    if (!(shared_prefix_fraction >= 0 && shared_prefix_fraction <= 1)) {
        throw ConfigError("workload: the shared-prefix fraction must be in [0, 1]");
    }
    if (!(request_rate > 0)) throw ConfigError("workload: the request rate must be positive (inf: all at once)");
    if (max_prompt_len < 1) throw ConfigError("workload: the longest prompt must be at least 1 token");
}

std::vector<WorkloadRequest> generate_workload(const WorkloadSpec& spec, std::int32_t vocab_size,
                                               std::int32_t first_token_id, std::int32_t bos_id) {
    spec.validate();
    if (first_token_id >= vocab_size) throw ConfigError("workload: no ordinary token to draw prompts from");
    SequenceRandom lengths(spec.seed, 1), tokens(spec.seed, 2), arrivals(spec.seed, 3);
    auto token = [&] {
        return first_token_id + static_cast<std::int32_t>(tokens.uniform01() * (vocab_size - first_token_id));
    };
    std::vector<WorkloadRequest> out(static_cast<std::size_t>(spec.num_requests));
    // The drawn length is the whole prompt's, BOS included: --prompt-len 128 sends 128 tokens.
    const std::size_t head = bos_id >= 0 ? 1 : 0;
    std::int32_t shortest = INT32_MAX;
    for (WorkloadRequest& r : out) {
        r.prompt_token_ids.resize(
            static_cast<std::size_t>(std::min(draw(spec.prompt_len, lengths), spec.max_prompt_len)));
        r.max_tokens = draw(spec.output_len, lengths);
        shortest = std::min(shortest, static_cast<std::int32_t>(r.prompt_token_ids.size() - head));
    }
    // After the BOS, the shared prefix, then each prompt's own tokens.
    const auto num_shared = static_cast<std::size_t>(std::floor(spec.shared_prefix_fraction * shortest));
    std::vector<std::int32_t> shared(num_shared);
    for (std::int32_t& t : shared) t = token();
    double clock = 0;
    for (std::size_t i = 0; i < out.size(); ++i) {
        WorkloadRequest& r = out[i];
        r.index = static_cast<std::int32_t>(i);
        if (head) r.prompt_token_ids[0] = bos_id;
        std::copy(shared.begin(), shared.end(), r.prompt_token_ids.begin() + static_cast<std::ptrdiff_t>(head));
        for (std::size_t j = head + num_shared; j < r.prompt_token_ids.size(); ++j) r.prompt_token_ids[j] = token();
        if (std::isfinite(spec.request_rate) && i > 0) {
            clock += -std::log(std::max(1.0 - arrivals.uniform01(), 1e-300)) / spec.request_rate;
        }
        r.arrival_s = clock;
    }
    return out;
}

}  // namespace kvscope
