#pragma once
// One point of the session's time series, taken from a snapshot (full or counters-only): the
// numbers as the engine defines them (KvCacheStats, EngineMetrics), plus the histogram counts the
// latency percentiles are computed from. Rates and windowed percentiles (ChartPoint) are derived
// from two samples of the same engine (`epoch`: a model load starts a new one, and its counters
// start again at zero).

#include <cstdint>
#include <span>
#include <vector>

#include "engine/snapshot.h"

namespace kvscope::ui {

struct MetricSample {
    double timeS = 0;
    std::int32_t epoch = 0;
    std::int64_t step = 0;
    // KV cache, from KvCacheStats.
    std::int32_t numBlocks = 0, usedBlocks = 0, cachedBlocks = 0, freeBlocks = 0, sharedBlocks = 0;
    std::int64_t savedBlocks = 0;
    double kvUsage = 0;        // KvCacheStats::usage()
    double fragmentation = 0;  // KvCacheStats::fragmentation()
    double prefixHitRate = 0;  // KvCacheStats::prefix_hit_rate()
    // EngineMetrics.
    std::int64_t savedBytes = 0;
    std::int64_t promptTokens = 0, generationTokens = 0, preemptionsTotal = 0, steps = 0;
    std::int32_t running = 0, waiting = 0;
    std::int32_t preempted = 0;                        // waiting sequences that were preempted (to be recomputed)
    std::vector<std::uint64_t> ttftCounts, itlCounts;  // histogram counts, bounds in SessionRecorder
    double ttftSum = 0, itlSum = 0;                    // seconds, over the same observations
    // The first sample after an attach: its histograms hold what the server observed before it
    // (since the server started), which its chart point shows as "before attach".
    bool beforeAttach = false;
    // The first sample after the attached server did not answer: none was taken in between, so the
    // charts draw no line from the sample before (SessionRecorder::markGap).
    bool afterGap = false;

    static MetricSample from(const EngineSnapshot& snapshot, double timeS, std::int32_t epoch);
};

// What the charts draw at one sample. Rates are over `rateWindowS` before it, latency percentiles
// and means over the requests whose first token (TTFT) or tokens (ITL) came in `latencyWindowS`
// before it (or since the epoch began, in a younger epoch; an attach's first sample shows what
// the server observed before it, and later points leave that out); NaN when there is nothing to
// measure (no window yet, or no observation in it).
struct ChartPoint {
    double timeS = 0;
    double promptTps = 0, generationTps = 0;
    double kvUsagePct = 0, fragmentationPct = 0;
    double sharedBlocks = 0, savedMiB = 0;
    double prefixHitRatePct = 0;
    double running = 0, waiting = 0, preempted = 0;
    double ttftP50Ms = 0, ttftP99Ms = 0, itlP50Ms = 0, itlP99Ms = 0;
    double ttftMeanMs = 0, itlMeanMs = 0;
    bool beforeAttach = false;  // the latency values are the server's since it started (MetricSample)
};

struct ChartWindows {
    double rateWindowS = 1.0;
    double latencyWindowS = 10.0;
};

// The chart point of samples[index], looking back over samples[0, index] (ascending time).
ChartPoint chartPoint(std::span<const MetricSample> samples, std::size_t index, std::span<const double> ttftBounds,
                      std::span<const double> itlBounds, const ChartWindows& windows = {});

}  // namespace kvscope::ui
