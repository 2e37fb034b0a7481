#pragma once
// The inspector's timeline: a slider over the recorded frames (full snapshots), Live to follow
// the engine, Play to replay from the current frame at real time (or faster). Moving the slider
// while playing moves the replay, as in a media player: it waits while the handle is held and
// goes on from where it is dropped.

#include <QElapsedTimer>
#include <QWidget>

class QComboBox;
class QLabel;
class QSlider;
class QTimer;
class QToolButton;

namespace kvscope::ui {

class SessionRecorder;

class TimelineBar final : public QWidget {
    Q_OBJECT

public:
    explicit TimelineBar(SessionRecorder* recorder, QWidget* parent = nullptr);

    bool isLive() const { return m_live; }
    int currentFrame() const;  // the shown frame; the newest when live
    bool isPlaying() const;

public slots:
    void goLive();
    // Shows frame `index`; a replay goes on from there.
    void showFrame(int index);
    void setPlaying(bool playing);

signals:
    // -1: live (follow the newest snapshot).
    void frameSelected(int index);

private slots:
    void onFramesChanged();
    void replayTick();

private:
    // Shows frame `index` (the replay's own progress, too).
    void display(int index);
    // The replay goes on from the shown frame, from now.
    void restartReplayClock();
    void updateLabel();
    // The frame time the replay has reached: where the current speed took over, plus the time
    // since then at that speed.
    double replayTime() const;
    void onSpeedChanged();

    SessionRecorder* m_recorder;
    QSlider* m_slider = nullptr;
    QToolButton* m_play = nullptr;
    QToolButton* m_liveButton = nullptr;
    QComboBox* m_speed = nullptr;
    QLabel* m_label = nullptr;
    QTimer* m_replay = nullptr;
    QElapsedTimer m_replayClock;  // since m_replayFrom
    double m_replayFrom = 0;      // frame time where the replay started, or its speed last changed
    double m_replaySpeed = 1;     // frame seconds per second since m_replayFrom
    double m_shownTime = 0;   // time of the shown frame (survives thinning)
    bool m_live = true;
};

}  // namespace kvscope::ui
