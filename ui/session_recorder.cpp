#include "ui/session_recorder.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace kvscope::ui {

SessionRecorder::SessionRecorder(QObject* parent, std::size_t frameBudgetBytes, std::size_t maxSamples)
    : QObject(parent), m_frameBudget(frameBudgetBytes), m_maxSamples(std::max<std::size_t>(maxSamples, 4)) {
    const EngineMetrics defaults;
    m_ttftBounds = defaults.time_to_first_token_seconds.bounds();
    m_itlBounds = defaults.inter_token_latency_seconds.bounds();
}

std::size_t SessionRecorder::snapshotBytes(const EngineSnapshot& s) {
    return sizeof(EngineSnapshot) + snapshot_array_bytes(s) + s.kv.blocks.bytes_not_in(nullptr);
}

void SessionRecorder::account(const EngineSnapshot& s, int sign) {
    std::size_t bytes = sizeof(EngineSnapshot) + snapshot_array_bytes(s);
    for (const auto& chunk : s.kv.blocks.chunks()) {
        int& users = m_chunkUsers[chunk.get()];
        if ((sign > 0 && users++ == 0) || (sign < 0 && --users == 0)) bytes += chunk->bytes();
        if (users == 0) m_chunkUsers.erase(chunk.get());
    }
    m_frameBytes = sign > 0 ? m_frameBytes + bytes : m_frameBytes - bytes;
}

void SessionRecorder::record(std::shared_ptr<const EngineSnapshot> snapshot, double timeS) {
    if (!snapshot) return;
    m_samples.push_back(MetricSample::from(*snapshot, timeS, m_epoch));
    m_samples.back().beforeAttach = std::exchange(m_beforeAttach, false);
    m_samples.back().afterGap = std::exchange(m_gap, false);
    if (m_samples.size() > m_maxSamples) {
        thinSamples();
        emit samplesReset();
    } else {
        emit sampleAdded();
    }
    if (snapshot->detail != SnapshotDetail::Full) return;
    account(*snapshot, +1);
    m_frames.push_back(Frame{timeS, m_epoch, std::move(snapshot)});
    if (m_frameBytes > m_frameBudget) thinFrames();
    emit framesChanged();
}

// Drops every other frame of the older half (never the newest) until within budget.
void SessionRecorder::thinFrames() {
    while (m_frameBytes > m_frameBudget && m_frames.size() > 2) {
        const std::size_t half = m_frames.size() / 2;
        std::vector<Frame> kept;
        kept.reserve(m_frames.size());
        for (std::size_t i = 0; i < m_frames.size(); ++i) {
            if (i < half && i % 2 == 1) {
                account(*m_frames[i].snapshot, -1);
                continue;
            }
            kept.push_back(std::move(m_frames[i]));
        }
        m_frames = std::move(kept);
        if (half < 2) break;
    }
    // A single frame larger than the budget is still kept: the newest is always there.
}

void SessionRecorder::thinSamples() {
    const std::size_t half = m_samples.size() / 2;
    std::vector<MetricSample> kept;
    kept.reserve(m_samples.size());
    for (std::size_t i = 0; i < m_samples.size(); ++i) {
        // An attach's history stays, and so do the gaps.
        if (i < half && i % 2 == 1 && !m_samples[i].beforeAttach && !m_samples[i].afterGap) continue;
        kept.push_back(std::move(m_samples[i]));
    }
    m_samples = std::move(kept);
}

void SessionRecorder::clear() {
    m_samples.clear();
    m_frames.clear();
    m_chunkUsers.clear();
    m_frameBytes = 0;
    emit samplesReset();
    emit framesChanged();
}

int SessionRecorder::frameNear(double timeS) const {
    if (m_frames.empty()) return -1;
    const auto it =
        std::lower_bound(m_frames.begin(), m_frames.end(), timeS, [](const Frame& f, double t) { return f.timeS < t; });
    if (it == m_frames.end()) return int(m_frames.size()) - 1;
    if (it == m_frames.begin()) return 0;
    const auto before = std::prev(it);
    return int((timeS - before->timeS <= it->timeS - timeS ? before : it) - m_frames.begin());
}

ChartPoint SessionRecorder::point(std::size_t sampleIndex, const ChartWindows& windows) const {
    return chartPoint(m_samples, sampleIndex, m_ttftBounds, m_itlBounds, windows);
}

}  // namespace kvscope::ui
