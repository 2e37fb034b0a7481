#include "ui/metric_sample.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace kvscope::ui {

MetricSample MetricSample::from(const EngineSnapshot& snap, double timeS, std::int32_t epoch) {
    const KvCacheStats& kv = snap.kv.stats;
    const EngineMetrics& m = snap.metrics;
    MetricSample s;
    s.timeS = timeS;
    s.epoch = epoch;
    s.step = snap.step;
    s.numBlocks = kv.num_blocks;
    s.usedBlocks = kv.num_used_blocks;
    s.cachedBlocks = kv.num_cached_free_blocks;
    s.freeBlocks = kv.num_free_blocks;
    s.sharedBlocks = kv.num_shared_blocks;
    s.savedBlocks = kv.num_saved_blocks;
    s.kvUsage = kv.usage();
    s.fragmentation = kv.fragmentation();
    s.prefixHitRate = kv.prefix_hit_rate();
    s.savedBytes = m.sharing_saved_bytes;
    s.promptTokens = m.prompt_tokens;
    s.generationTokens = m.generation_tokens;
    s.preemptionsTotal = m.num_preemptions;
    s.steps = m.num_steps;
    s.running = m.num_requests_running;
    s.waiting = m.num_requests_waiting;
    for (const SequenceSnapshot& q : snap.sequences) {
        if (q.status == SequenceStatus::Waiting && q.num_preemptions > 0) ++s.preempted;
    }
    s.ttftCounts = m.time_to_first_token_seconds.counts();
    s.itlCounts = m.inter_token_latency_seconds.counts();
    s.ttftSum = m.time_to_first_token_seconds.sum();
    s.itlSum = m.inter_token_latency_seconds.sum();
    return s;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The latest sample of the same epoch at or before `from` seconds: the baseline of a window that
// starts there. -1 when the epoch began inside the window (its counters started at zero in it).
std::ptrdiff_t baseline(std::span<const MetricSample> samples, std::size_t index, double from) {
    const auto it = std::upper_bound(samples.begin(), samples.begin() + std::ptrdiff_t(index), from,
                                     [](double t, const MetricSample& s) { return t < s.timeS; });
    const std::ptrdiff_t b = (it - samples.begin()) - 1;
    return b >= 0 && samples[std::size_t(b)].epoch == samples[index].epoch ? b : -1;
}

// The first sample of the epoch of samples[index].
std::size_t epochStart(std::span<const MetricSample> samples, std::size_t index) {
    std::size_t i = index;
    while (i > 0 && samples[i - 1].epoch == samples[index].epoch) --i;
    return i;
}

double quantileMs(std::span<const double> bounds, const std::vector<std::uint64_t>& now,
                  const std::vector<std::uint64_t>* before, double q) {
    if (now.size() != bounds.size() + 1 || (before && before->size() != now.size())) return kNaN;
    std::vector<std::uint64_t> delta(now);
    if (before) {
        for (std::size_t i = 0; i < now.size(); ++i) delta[i] = now[i] >= (*before)[i] ? now[i] - (*before)[i] : 0;
    }
    return histogram_quantile(bounds, delta, q) * 1000.0;
}

// The mean of the observations made after `before` (all of them without one), in ms.
double meanMs(const std::vector<std::uint64_t>& now, double nowSum, const std::vector<std::uint64_t>* before,
              double beforeSum) {
    std::uint64_t count = 0;
    for (const std::uint64_t c : now) count += c;
    if (before) {
        for (const std::uint64_t c : *before) count -= std::min(c, count);
    }
    return count > 0 ? (nowSum - (before ? beforeSum : 0.0)) / double(count) * 1000.0 : kNaN;
}

}  // namespace

ChartPoint chartPoint(std::span<const MetricSample> samples, std::size_t index, std::span<const double> ttftBounds,
                      std::span<const double> itlBounds, const ChartWindows& windows) {
    const MetricSample& cur = samples[index];
    ChartPoint p;
    p.timeS = cur.timeS;
    p.kvUsagePct = cur.kvUsage * 100.0;
    p.fragmentationPct = cur.fragmentation * 100.0;
    p.sharedBlocks = cur.sharedBlocks;
    p.savedMiB = double(cur.savedBytes) / (1024.0 * 1024.0);
    p.prefixHitRatePct = cur.prefixHitRate * 100.0;
    p.running = cur.running;
    p.waiting = cur.waiting;
    p.preempted = cur.preempted;

    // Rates: counter differences over the window (or since the epoch's first sample).
    const std::ptrdiff_t r = baseline(samples, index, cur.timeS - windows.rateWindowS);
    const MetricSample& r0 = samples[r >= 0 ? std::size_t(r) : epochStart(samples, index)];
    const double dt = cur.timeS - r0.timeS;
    p.promptTps = dt > 0 ? double(cur.promptTokens - r0.promptTokens) / dt : kNaN;
    p.generationTps = dt > 0 ? double(cur.generationTokens - r0.generationTokens) / dt : kNaN;

    // Percentiles and means of the observations made inside the latency window: after its baseline,
    // or in the whole epoch when it began inside the window - less what a server had observed
    // before the attach (the epoch's first sample, whose own point shows it).
    const std::ptrdiff_t l = baseline(samples, index, cur.timeS - windows.latencyWindowS);
    const std::size_t start = epochStart(samples, index);
    const MetricSample* l0 = l >= 0                                         ? &samples[std::size_t(l)]
                             : start < index && samples[start].beforeAttach ? &samples[start]
                                                                            : nullptr;
    p.beforeAttach = cur.beforeAttach;
    p.ttftP50Ms = quantileMs(ttftBounds, cur.ttftCounts, l0 ? &l0->ttftCounts : nullptr, 0.50);
    p.ttftP99Ms = quantileMs(ttftBounds, cur.ttftCounts, l0 ? &l0->ttftCounts : nullptr, 0.99);
    p.itlP50Ms = quantileMs(itlBounds, cur.itlCounts, l0 ? &l0->itlCounts : nullptr, 0.50);
    p.itlP99Ms = quantileMs(itlBounds, cur.itlCounts, l0 ? &l0->itlCounts : nullptr, 0.99);
    p.ttftMeanMs = meanMs(cur.ttftCounts, cur.ttftSum, l0 ? &l0->ttftCounts : nullptr, l0 ? l0->ttftSum : 0.0);
    p.itlMeanMs = meanMs(cur.itlCounts, cur.itlSum, l0 ? &l0->itlCounts : nullptr, l0 ? l0->itlSum : 0.0);
    return p;
}

}  // namespace kvscope::ui
