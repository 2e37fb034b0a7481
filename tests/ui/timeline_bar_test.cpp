// The inspector's timeline replay, offscreen, over recorded frames 0.1 s apart: a change of speed
// while playing applies from that moment on, so the replay goes on from the frame it had reached
// instead of jumping as if the whole replay had run at the new speed.

#include <QComboBox>
#include <QElapsedTimer>
#include <QSignalSpy>
#include <QtTest>

#include "tests/ui/qt_test_main.h"
#include "ui/session_recorder.h"
#include "ui/timeline_bar.h"

namespace timeline_bar_test {

using namespace kvscope;
using namespace kvscope::ui;

constexpr double kFrameGapS = 0.1;
constexpr int kNumFrames = 301;  // 30 s of recording

std::shared_ptr<const EngineSnapshot> fullSnapshot(std::int64_t step) {
    auto s = std::make_shared<EngineSnapshot>();
    s->detail = SnapshotDetail::Full;
    s->step = step;
    s->kv.stats.num_blocks = 4;
    s->kv.blocks.resize(4);
    return s;
}

class TimelineBarTest : public QObject {
    Q_OBJECT

private slots:
    void aNewSpeedAppliesFromTheMomentItChanges() {
        SessionRecorder recorder;
        TimelineBar bar(&recorder);  // as in the workbench: there before the snapshots come
        for (int i = 0; i < kNumFrames; ++i) recorder.record(fullSnapshot(i), i * kFrameGapS);
        QCOMPARE(int(recorder.frames().size()), kNumFrames);
        auto* speed = bar.findChild<QComboBox*>("timelineSpeed");
        QVERIFY(speed);
        QCOMPARE(speed->currentIndex(), 0);  // 1×

        bar.showFrame(0);
        bar.setPlaying(true);
        QVERIFY(bar.isPlaying());
        // About a second at 1×: frame 10 or so.
        QVERIFY(QTest::qWaitFor([&] { return bar.currentFrame() >= 10; }, 10000));
        QVERIFY(bar.isPlaying());
        const int reached = bar.currentFrame();
        QElapsedTimer sinceChange;
        sinceChange.start();
        QSignalSpy frames(&bar, &TimelineBar::frameSelected);
        speed->setCurrentIndex(2);  // 16×
        QVERIFY(QTest::qWaitFor([&] { return frames.count() >= 1; }, 5000));
        const double elapsedS = double(sinceChange.elapsed()) / 1000.0;
        const int first = frames.at(0).at(0).toInt();
        // At most 16× the time since the change past the frame reached (+ a frame of slack); the
        // bug replayed the whole second before it at 16× too and jumped ~150 frames further.
        const int bound = reached + int(16.0 * elapsedS / kFrameGapS) + 2;
        QVERIFY2(first <= bound, qPrintable(QStringLiteral("frame %1 after %2 s at 16× from frame %3 (at most %4)")
                                                .arg(first)
                                                .arg(elapsedS)
                                                .arg(reached)
                                                .arg(bound)));
        QVERIFY(first > reached);
        // It still plays to the end, faster.
        QVERIFY(QTest::qWaitFor([&] { return !bar.isPlaying(); }, 10000));
        QCOMPARE(bar.currentFrame(), kNumFrames - 1);
    }

    // Changing the speed while paused changes nothing shown; the next Play runs at it.
    void theSpeedChosenWhilePausedIsTheNextReplays() {
        SessionRecorder recorder;
        TimelineBar bar(&recorder);
        for (int i = 0; i < kNumFrames; ++i) recorder.record(fullSnapshot(i), i * kFrameGapS);
        auto* speed = bar.findChild<QComboBox*>("timelineSpeed");
        bar.showFrame(3);
        speed->setCurrentIndex(2);
        QCOMPARE(bar.currentFrame(), 3);
        QElapsedTimer clock;
        clock.start();
        bar.setPlaying(true);
        QVERIFY(QTest::qWaitFor([&] { return bar.currentFrame() >= 40; }, 10000));
        // 37 frames (3.7 s of recording) took far less than 3.7 s: 16×, not 1×.
        QVERIFY2(clock.elapsed() < 2500, qPrintable(QString::number(clock.elapsed())));
        bar.setPlaying(false);
    }
};

}  // namespace timeline_bar_test

KVSCOPE_QTEST_MAIN(timeline_bar_test, TimelineBarTest)
#include "timeline_bar_test.moc"
