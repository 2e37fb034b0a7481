#pragma once
// The session's history, kept on the UI side: a MetricSample for every snapshot (the charts and
// the CSV/JSON time series) and the full snapshots themselves as timeline frames for the
// inspector. Snapshots are immutable values behind shared pointers, so a frame costs no copy, and
// consecutive snapshots share the chunks of blocks in which nothing changed (KvBlockList), so a
// frame's bytes are what it holds that no other kept frame holds: each chunk counts once. Frames
// are kept within a byte budget by thinning the older half (every other frame goes), which keeps
// recent history dense and old history sparse. Samples are thinned the same way past a count.

#include <QObject>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/snapshot.h"
#include "ui/metric_sample.h"

namespace kvscope::ui {

class SessionRecorder final : public QObject {
    Q_OBJECT

public:
    struct Frame {
        double timeS = 0;
        std::int32_t epoch = 0;
        std::shared_ptr<const EngineSnapshot> snapshot;
    };

    static constexpr std::size_t kDefaultFrameBudget = std::size_t(256) << 20;
    static constexpr std::size_t kDefaultMaxSamples = 200000;

    explicit SessionRecorder(QObject* parent = nullptr, std::size_t frameBudgetBytes = kDefaultFrameBudget,
                             std::size_t maxSamples = kDefaultMaxSamples);

    // A sample from every snapshot; a frame from every full one.
    void record(std::shared_ptr<const EngineSnapshot> snapshot, double timeS);
    // A new engine (model load): its counters start again at zero. `attached`: a server's, whose
    // first sample holds what it observed before the attach (MetricSample::beforeAttach).
    void startEpoch(bool attached = false) {
        ++m_epoch;
        m_beforeAttach = attached;
    }
    // No sample can be taken for a while (the attached server does not answer): the next sample
    // is marked MetricSample::afterGap.
    void markGap() { m_gap = true; }
    void clear();

    const std::vector<MetricSample>& samples() const { return m_samples; }
    const std::vector<Frame>& frames() const { return m_frames; }
    // What the kept frames hold, each chunk of blocks once.
    std::size_t frameBytes() const { return m_frameBytes; }
    // The frame nearest to `timeS` (-1 when there is none).
    int frameNear(double timeS) const;
    ChartPoint point(std::size_t sampleIndex, const ChartWindows& windows = {}) const;
    const std::vector<double>& ttftBounds() const { return m_ttftBounds; }
    const std::vector<double>& itlBounds() const { return m_itlBounds; }

    // Bytes a snapshot holds (its per-block arrays, mostly), all its chunks of blocks counted.
    static std::size_t snapshotBytes(const EngineSnapshot& snapshot);

signals:
    void sampleAdded();
    // Samples were dropped (thinning, clear): who mirrors them must rebuild.
    void samplesReset();
    void framesChanged();

private:
    void thinFrames();
    void thinSamples();
    // Counts a kept frame's bytes in (+1) or out (-1): its own arrays, and each chunk of blocks
    // that no other kept frame holds.
    void account(const EngineSnapshot& snapshot, int sign);

    std::size_t m_frameBudget;
    std::size_t m_maxSamples;
    std::int32_t m_epoch = 0;
    bool m_beforeAttach = false;  // the next sample is an attach's first
    bool m_gap = false;           // the next sample comes after a gap
    std::vector<MetricSample> m_samples;
    std::vector<Frame> m_frames;
    std::size_t m_frameBytes = 0;
    std::unordered_map<const void*, int> m_chunkUsers;  // chunk -> kept frames holding it
    std::vector<double> m_ttftBounds, m_itlBounds;
};

}  // namespace kvscope::ui
