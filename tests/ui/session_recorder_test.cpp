// The session's time series: a MetricSample is the snapshot's own numbers; chart points derive
// rates and windowed percentiles from samples (hand-computed here), never across a model load;
// the recorder keeps frames within a byte budget and samples within a count; the charts are fed
// one point per sample and save as PNG and PDF; the time an attached server did not answer is a
// gap in the drawn lines, and in nothing else.

#include <qcustomplot.h>
#include <QFile>
#include <QJsonArray>
#include <QTemporaryDir>
#include <QtTest>
#include <cmath>

#include "tests/ui/qt_test_main.h"
#include "ui/charts_panel.h"
#include "ui/metric_sample.h"
#include "ui/session.h"
#include "ui/session_export.h"
#include "ui/session_recorder.h"

namespace session_recorder_test {

using namespace kvscope;
using namespace kvscope::ui;

MetricSample sample(double t, std::int64_t generated, std::int32_t epoch = 0) {
    MetricSample s;
    s.timeS = t;
    s.generationTokens = generated;
    s.promptTokens = 2 * generated;
    s.epoch = epoch;
    s.ttftCounts = {0, 0, 0, 0, 0};
    s.itlCounts = {0, 0, 0, 0, 0};
    return s;
}

const std::vector<double> kBounds = {0.001, 0.01, 0.1, 1.0};

std::shared_ptr<const EngineSnapshot> snapshotWith(std::int64_t generated, SnapshotDetail detail, int numBlocks) {
    auto s = std::make_shared<EngineSnapshot>();
    s->detail = detail;
    s->metrics.generation_tokens = generated;
    s->kv.stats.num_blocks = numBlocks;
    s->kv.stats.num_used_blocks = numBlocks / 4;
    if (detail == SnapshotDetail::Full) s->kv.blocks = KvBlockList(std::vector<KvBlockInfo>(std::size_t(numBlocks)));
    return s;
}

// Shows the charts (paused) with the KV chart over [0, `untilS`] s and draws it.
bool showKvChart(ChartsPanel& charts, double untilS) {
    charts.setPaused(true);
    charts.resize(1500, 800);
    charts.show();
    if (!QTest::qWaitForWindowExposed(&charts)) return false;
    charts.chart(1)->xAxis->setRange(0, untilS);
    charts.chart(1)->replot();
    return true;
}

// Whether the KV chart draws its usage line (green, 0x2ca02c) within a few pixels of (t, 25%).
bool usageDrawnAt(const ChartsPanel& charts, double t) {
    QCustomPlot* kv = charts.chart(1);
    const QImage image = kv->toPixmap().toImage();
    const int x = int(kv->xAxis->coordToPixel(t)), y = int(kv->yAxis->coordToPixel(25.0));
    for (int dy = -3; dy <= 3; ++dy) {
        const QColor c = image.pixelColor(x, y + dy);
        if (c.green() > c.red() + 40 && c.green() > c.blue() + 40) return true;
    }
    return false;
}

class SessionRecorderTest : public QObject {
    Q_OBJECT

private slots:
    void aSampleHoldsTheSnapshotsOwnNumbers() {
        EngineSnapshot s;
        s.kv.stats.block_size = 16;
        s.kv.stats.num_blocks = 100;
        s.kv.stats.num_used_blocks = 25;
        s.kv.stats.num_filled_slots = 300;  // 400 slots held: fragmentation 0.25
        s.kv.stats.num_prefix_query_tokens = 200;
        s.kv.stats.num_prefix_hit_tokens = 50;
        s.metrics.num_requests_running = 3;
        SequenceSnapshot waiting;
        waiting.status = SequenceStatus::Waiting;
        waiting.num_preemptions = 1;
        SequenceSnapshot fresh;
        fresh.status = SequenceStatus::Waiting;
        s.sequences = {waiting, fresh};
        const MetricSample m = MetricSample::from(s, 1.5, 2);
        QCOMPARE(m.kvUsage, 0.25);
        QCOMPARE(m.fragmentation, 0.25);
        QCOMPARE(m.prefixHitRate, 0.25);
        QCOMPARE(m.running, 3);
        QCOMPARE(m.preempted, 1);
        QCOMPARE(m.epoch, 2);
        QCOMPARE(m.ttftCounts.size(), s.metrics.time_to_first_token_seconds.counts().size());
    }

    void ratesAreCounterDifferencesOverTheWindow() {
        const std::vector<MetricSample> s = {sample(0, 0), sample(0.5, 100), sample(1.0, 300), sample(1.5, 400)};
        // At 1.5 s the window starts at 0.5 s: (400 - 100) / 1 s.
        QCOMPARE(chartPoint(s, 3, kBounds, kBounds).generationTps, 300.0);
        QCOMPARE(chartPoint(s, 3, kBounds, kBounds).promptTps, 600.0);
        // At 0.5 s the window reaches before the first sample: since the first, 100 / 0.5 s.
        QCOMPARE(chartPoint(s, 1, kBounds, kBounds).generationTps, 200.0);
        // The first sample has nothing to compare with.
        QVERIFY(std::isnan(chartPoint(s, 0, kBounds, kBounds).generationTps));
    }

    void aModelLoadStartsTheCountersAgain() {
        const std::vector<MetricSample> s = {sample(0, 0), sample(1, 500), sample(1.2, 10, 1), sample(1.7, 60, 1)};
        QVERIFY(std::isnan(chartPoint(s, 2, kBounds, kBounds).generationTps));  // no earlier sample of epoch 1
        QCOMPARE(chartPoint(s, 3, kBounds, kBounds).generationTps, 100.0);      // (60 - 10) / 0.5 s
    }

    void percentilesTakeTheObservationsInsideTheWindow() {
        std::vector<MetricSample> s = {sample(0, 0), sample(5, 0), sample(12, 0)};
        s[0].ttftCounts = {0, 4, 0, 0, 0};  // before the window at 12 s: 4 in (0.001, 0.01]
        s[1].ttftCounts = {0, 4, 0, 0, 0};
        s[2].ttftCounts = {0, 4, 2, 2, 0};  // in the window: 2 in (0.01, 0.1], 2 in (0.1, 1]
        const ChartPoint p = chartPoint(s, 2, kBounds, kBounds, ChartWindows{1.0, 10.0});
        // Window (2 s, 12 s]: baseline = the sample at 0 s. Delta {0,0,2,2,0}, 4 observations.
        QCOMPARE(p.ttftP50Ms, 100.0);                                // rank 2: top of (0.01, 0.1]
        QVERIFY(qAbs(p.ttftP99Ms - (100.0 + 900.0 * 0.98)) < 1e-6);  // rank 3.96: 98% into (0.1, 1]
        QVERIFY(std::isnan(p.itlP50Ms));                             // no inter-token observation
        // A window reaching before the epoch: every observation of the epoch counts.
        const ChartPoint all = chartPoint(s, 2, kBounds, kBounds, ChartWindows{1.0, 100.0});
        QVERIFY(qAbs(all.ttftP50Ms - 10.0) < 1e-9);  // 8 observations; rank 4: top of (0.001, 0.01]
    }

    // Snapshots that share chunks of blocks (KvBlockList: what did not change between them) count
    // each chunk once, however many frames hold it; a chunk's bytes leave with its last frame.
    void framesCountEachSharedChunkOnce() {
        const int numBlocks = 3 * KvBlockList::kBlocksPerChunk;
        const auto first = snapshotWith(0, SnapshotDetail::Full, numBlocks);
        const std::size_t chunk = first->kv.blocks.chunks()[0]->bytes();
        const std::size_t own = SessionRecorder::snapshotBytes(*first) - 3 * chunk;
        // Two later snapshots: the first's three chunks, then its chunk 0 and 1 and a new chunk 2.
        auto same = std::make_shared<EngineSnapshot>(*first);
        same->metrics.generation_tokens = 1;
        auto changed = std::make_shared<EngineSnapshot>(*first);
        changed->metrics.generation_tokens = 2;
        const auto fresh = snapshotWith(2, SnapshotDetail::Full, numBlocks);
        changed->kv.blocks =
            KvBlockList(0, {first->kv.blocks.chunks()[0], first->kv.blocks.chunks()[1], fresh->kv.blocks.chunks()[2]});
        SessionRecorder recorder(nullptr, 100 * SessionRecorder::snapshotBytes(*first), 1000);
        recorder.record(first, 0.0);
        QCOMPARE(recorder.frameBytes(), own + 3 * chunk);
        recorder.record(same, 0.1);
        QCOMPARE(recorder.frameBytes(), 2 * own + 3 * chunk);
        recorder.record(changed, 0.2);
        QCOMPARE(recorder.frameBytes(), 3 * own + 4 * chunk);
        // A fourth frame (three chunks of its own) goes over a budget that held the three: thinning
        // drops the second frame, whose chunks the first still holds, so only its own bytes leave.
        SessionRecorder tight(nullptr, 3 * own + 4 * chunk + 3 * chunk / 2, 1000);
        for (const auto& s :
             {first, std::shared_ptr<const EngineSnapshot>(same), std::shared_ptr<const EngineSnapshot>(changed)})
            tight.record(s, 0.1 * double(s->metrics.generation_tokens));
        tight.record(snapshotWith(3, SnapshotDetail::Full, numBlocks), 0.3);
        QCOMPARE(int(tight.frames().size()), 3);
        QCOMPARE(tight.frames()[1].snapshot->metrics.generation_tokens, 2);
        QCOMPARE(tight.frameBytes(), 3 * own + 4 * chunk + 3 * chunk);
        tight.clear();
        QCOMPARE(tight.frameBytes(), std::size_t(0));
    }

    void framesStayWithinTheBudgetKeepingTheNewest() {
        const std::size_t frame = SessionRecorder::snapshotBytes(*snapshotWith(0, SnapshotDetail::Full, 1000));
        SessionRecorder recorder(nullptr, frame * 10, 1000);
        QSignalSpy frames(&recorder, &SessionRecorder::framesChanged);
        for (int i = 0; i < 40; ++i) recorder.record(snapshotWith(i, SnapshotDetail::Full, 1000), i * 0.1);
        recorder.record(snapshotWith(99, SnapshotDetail::CountersOnly, 1000), 4.0);  // a sample, no frame
        QCOMPARE(int(recorder.samples().size()), 41);
        QVERIFY(recorder.frameBytes() <= frame * 10);
        QVERIFY(recorder.frames().size() <= 10);
        QCOMPARE(recorder.frames().back().snapshot->metrics.generation_tokens, 39);  // the newest stays
        QCOMPARE(recorder.frames().front().snapshot->metrics.generation_tokens, 0);  // so does the oldest
        QCOMPARE(frames.count(), 40);
        // Thinning keeps recent frames denser than old ones.
        const auto& f = recorder.frames();
        QVERIFY(f[1].timeS - f[0].timeS >= f.back().timeS - f[f.size() - 2].timeS);
        QCOMPARE(recorder.frameNear(3.86), int(f.size()) - 1);
        QCOMPARE(recorder.frameNear(-5), 0);
    }

    void samplesAreThinnedPastTheirCount() {
        SessionRecorder recorder(nullptr, 1 << 20, 8);
        QSignalSpy reset(&recorder, &SessionRecorder::samplesReset);
        for (int i = 0; i < 9; ++i) recorder.record(snapshotWith(i, SnapshotDetail::CountersOnly, 10), i);
        QCOMPARE(reset.count(), 1);
        QVERIFY(recorder.samples().size() <= 8);
        QCOMPARE(recorder.samples().back().timeS, 8.0);
        QCOMPARE(recorder.samples().front().timeS, 0.0);
    }

    void chartsGetOnePointPerSampleAndSave() {
        Session session;
        ChartsPanel charts(&session);
        QVERIFY(charts.seriesNames().contains("0/generation"));
        QCOMPARE(charts.numCharts(), 6);
        for (int i = 0; i <= 10; ++i)
            session.onSnapshot(snapshotWith(i * 50, SnapshotDetail::CountersOnly, 40), i * 0.5);
        QCPGraph* generation = charts.series("0/generation");
        QCPGraph* usage = charts.series("1/usage");
        QCOMPARE(generation->data()->size(), 11);
        QCOMPARE((generation->data()->constEnd() - 1)->value, 100.0);  // 50 tokens every 0.5 s
        QCOMPARE((usage->data()->constEnd() - 1)->value, 25.0);        // 10 of 40 blocks
        charts.setPaused(true);
        session.onSnapshot(snapshotWith(600, SnapshotDetail::CountersOnly, 40), 5.5);
        QCOMPARE(generation->data()->size(), 12);  // recorded while paused, just not redrawn
        charts.replotNow();
        QVERIFY(charts.isFollowing());
        QCOMPARE(charts.chart(0)->xAxis->range().upper, 5.5);

        QTemporaryDir dir;
        const QString png = dir.filePath("charts.png"), pdf = dir.filePath("charts.pdf");
        QCOMPARE(charts.savePng(png), QString());
        QCOMPARE(QImage(png).size(), QSize(1600, 1200));
        QCOMPARE(charts.savePdf(pdf), QString());
        QFile file(pdf);
        QVERIFY(file.open(QIODevice::ReadOnly));
        QVERIFY(file.read(5) == "%PDF-");
        QVERIFY(charts.savePng(dir.filePath("missing/dir/charts.png")).contains("cannot write here"));
    }

    void aGapStaysThroughThinning() {
        SessionRecorder recorder(nullptr, 1 << 20, 8);
        for (int i = 0; i < 3; ++i) recorder.record(snapshotWith(i, SnapshotDetail::CountersOnly, 10), i);
        recorder.markGap();
        for (int i = 3; i < 9; ++i) recorder.record(snapshotWith(i, SnapshotDetail::CountersOnly, 10), i + 10);
        QVERIFY(recorder.samples().size() <= 8);  // thinned once
        int gaps = 0;
        for (const MetricSample& s : recorder.samples()) {
            if (!s.afterGap) continue;
            ++gaps;
            QCOMPARE(s.timeS, 13.0);  // the first sample after the gap, and only it
        }
        QCOMPARE(gaps, 1);
    }

    // KV usage is 25% before and after the 6 s the server did not answer. Oracle: the pixels of
    // the drawn chart - the usage line's green is there at 1 s and 9 s, and not at 5 s (it was:
    // a straight line across).
    void theTimeAServerDidNotAnswerIsAGapInTheCharts() {
        Session session;
        ChartsPanel charts(&session);
        for (int i = 0; i <= 20; ++i)
            session.onSnapshot(snapshotWith(i * 50, SnapshotDetail::CountersOnly, 40), i * 0.1);
        session.onRemoteAnswering("http://127.0.0.1:1: connection refused");
        session.onRemoteAnswering("");
        for (int i = 80; i <= 100; ++i)
            session.onSnapshot(snapshotWith(i * 50, SnapshotDetail::CountersOnly, 40), i * 0.1);
        QCOMPARE(int(session.recorder()->samples().size()), 42);
        QVERIFY(showKvChart(charts, 10.0));
        QVERIFY(usageDrawnAt(charts, 1.0));
        QVERIFY(usageDrawnAt(charts, 9.0));
        QVERIFY2(!usageDrawnAt(charts, 5.0), "a line across the 6 s the server did not answer");

        // The exports hold the 42 samples as they were: numbers or null, no NaN.
        const QJsonArray series = sessionJson(session)["time_series"].toArray();
        QCOMPARE(series.size(), 42);
        QCOMPARE(series[21].toObject()["time_s"].toDouble(), 8.0);
        QCOMPARE(series[21].toObject()["kv_usage"].toDouble(), 0.25);
        // The sample after the gap says so; no other does.
        for (int i = 0; i < series.size(); ++i)
            QCOMPARE(series[i].toObject()["after_gap"].toDouble(), i == 21 ? 1.0 : 0.0);
        for (const QJsonValue& row : series) {
            for (const QJsonValue& v : row.toObject()) QVERIFY(v.isDouble() || v.isNull());
        }
        QTemporaryDir dir;
        QString error;
        const QStringList files = exportSessionCsv(session, dir.filePath("s.csv"), &error);
        QCOMPARE(error, QString());
        QFile csv(files.value(0));
        QVERIFY(csv.open(QIODevice::ReadOnly));
        const QString text = QString::fromUtf8(csv.readAll());
        QCOMPARE(text.count('\n'), 43);
        QVERIFY(text.section('\n', 0, 0).endsWith(",after_gap,before_attach"));
        QVERIFY(text.section('\n', 22, 22).endsWith(",1,0"));  // the sample after the gap (the header is line 0)
        QVERIFY(text.section('\n', 21, 21).endsWith(",0,0"));
        QVERIFY(!text.contains("nan", Qt::CaseInsensitive) && !text.contains("inf", Qt::CaseInsensitive));
    }

    // Ten points a pixel, so that QCustomPlot's adaptive sampling thins the line: the gap (a minute
    // of 460 s) stays.
    void aGapStaysWhenTheLineIsThinnedToThePixels() {
        Session session;
        ChartsPanel charts(&session);
        for (int i = 0; i <= 2000; ++i) session.onSnapshot(snapshotWith(i, SnapshotDetail::CountersOnly, 40), i * 0.1);
        session.onRemoteAnswering("http://127.0.0.1:1: timed out");
        session.onRemoteAnswering("");
        for (int i = 2600; i <= 4600; ++i)
            session.onSnapshot(snapshotWith(i, SnapshotDetail::CountersOnly, 40), i * 0.1);
        QVERIFY(showKvChart(charts, 460.0));
        QVERIFY(charts.chart(1)->axisRect()->width() * 2 + 2 < 4002);  // adaptive sampling on
        QVERIFY(usageDrawnAt(charts, 100.0));
        QVERIFY(usageDrawnAt(charts, 400.0));
        QVERIFY2(!usageDrawnAt(charts, 230.0), "a line across the minute the server did not answer");
    }
};

}  // namespace session_recorder_test

KVSCOPE_QTEST_MAIN(session_recorder_test, SessionRecorderTest)
#include "session_recorder_test.moc"
