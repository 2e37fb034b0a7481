#include "ui/timeline_bar.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QSignalBlocker>
#include <QSlider>
#include <QStyle>
#include <QTimer>
#include <QToolButton>
#include <algorithm>

#include "ui/session_recorder.h"

namespace kvscope::ui {
namespace {

constexpr double kSpeeds[] = {1.0, 4.0, 16.0};  // the speed box's entries

}  // namespace

TimelineBar::TimelineBar(SessionRecorder* recorder, QWidget* parent) : QWidget(parent), m_recorder(recorder) {
    m_play = new QToolButton(this);
    m_play->setObjectName("timelinePlay");
    m_play->setCheckable(true);
    m_play->setIcon(style()->standardIcon(QStyle::SP_MediaPlay));
    m_play->setToolTip(tr("Replay the recorded snapshots from the shown one"));
    m_speed = new QComboBox(this);
    m_speed->setObjectName("timelineSpeed");
    m_speed->addItems({QStringLiteral("1×"), QStringLiteral("4×"), QStringLiteral("16×")});
    m_speed->setToolTip(tr("Replay speed"));
    m_slider = new QSlider(Qt::Horizontal, this);
    m_slider->setObjectName("timelineSlider");
    m_slider->setRange(0, 0);
    m_slider->setToolTip(tr("Scrub through the snapshots recorded this session"));
    m_liveButton = new QToolButton(this);
    m_liveButton->setObjectName("timelineLive");
    m_liveButton->setText(tr("Live"));
    m_liveButton->setCheckable(true);
    m_liveButton->setChecked(true);
    m_liveButton->setToolTip(tr("Follow the engine"));
    m_label = new QLabel(this);
    m_label->setObjectName("timelineLabel");
    m_label->setMinimumWidth(230);
    m_replay = new QTimer(this);
    m_replay->setInterval(33);

    auto* row = new QHBoxLayout(this);
    row->setContentsMargins(0, 0, 0, 0);
    row->addWidget(new QLabel(tr("Timeline"), this));
    row->addWidget(m_play);
    row->addWidget(m_speed);
    row->addWidget(m_slider, 1);
    row->addWidget(m_liveButton);
    row->addWidget(m_label);

    connect(m_slider, &QSlider::valueChanged, this, &TimelineBar::showFrame);
    connect(m_liveButton, &QToolButton::clicked, this,
            [this](bool on) { on ? goLive() : showFrame(m_slider->value()); });
    connect(m_play, &QToolButton::toggled, this, &TimelineBar::setPlaying);
    connect(m_replay, &QTimer::timeout, this, &TimelineBar::replayTick);
    connect(m_speed, &QComboBox::currentIndexChanged, this, &TimelineBar::onSpeedChanged);
    connect(m_recorder, &SessionRecorder::framesChanged, this, &TimelineBar::onFramesChanged);
    updateLabel();
}

int TimelineBar::currentFrame() const {
    return m_live ? int(m_recorder->frames().size()) - 1 : m_slider->value();
}

bool TimelineBar::isPlaying() const {
    return m_replay->isActive();
}

void TimelineBar::goLive() {
    setPlaying(false);
    m_live = true;
    m_liveButton->setChecked(true);
    onFramesChanged();
    emit frameSelected(-1);
}

void TimelineBar::showFrame(int index) {
    display(index);
    if (isPlaying()) restartReplayClock();  // a seek: without this the next tick went back
}

void TimelineBar::display(int index) {
    const auto& frames = m_recorder->frames();
    if (frames.empty()) return;
    index = std::clamp(index, 0, int(frames.size()) - 1);
    m_live = false;
    m_liveButton->setChecked(false);
    m_shownTime = frames[std::size_t(index)].timeS;
    {
        const QSignalBlocker block(m_slider);
        m_slider->setValue(index);
    }
    updateLabel();
    emit frameSelected(index);
}

void TimelineBar::setPlaying(bool playing) {
    if (playing == m_replay->isActive()) return;
    {
        const QSignalBlocker block(m_play);
        m_play->setChecked(playing);
    }
    m_play->setIcon(style()->standardIcon(playing ? QStyle::SP_MediaPause : QStyle::SP_MediaPlay));
    if (!playing) {
        m_replay->stop();
        return;
    }
    const auto& frames = m_recorder->frames();
    if (frames.empty()) return;
    int start = m_live ? 0 : m_slider->value();
    if (start >= int(frames.size()) - 1) start = 0;  // at the end: replay from the start
    display(start);
    m_replaySpeed = kSpeeds[std::clamp(m_speed->currentIndex(), 0, 2)];
    restartReplayClock();
    m_replay->start();
}

void TimelineBar::restartReplayClock() {
    m_replayFrom = m_shownTime;
    m_replayClock.start();
}

double TimelineBar::replayTime() const {
    return m_replayFrom + double(m_replayClock.elapsed()) / 1000.0 * m_replaySpeed;
}

// The new speed applies from now on: the time replayed so far stays as replayed.
void TimelineBar::onSpeedChanged() {
    if (isPlaying()) {
        m_replayFrom = replayTime();
        m_replayClock.start();
    }
    m_replaySpeed = kSpeeds[std::clamp(m_speed->currentIndex(), 0, 2)];
}

void TimelineBar::replayTick() {
    const auto& frames = m_recorder->frames();
    if (frames.empty()) return setPlaying(false);
    if (m_slider->isSliderDown()) return restartReplayClock();  // held by the user: wait under the handle
    const double t = replayTime();
    int index = m_slider->value();
    while (index + 1 < int(frames.size()) && frames[std::size_t(index + 1)].timeS <= t) ++index;
    if (index != m_slider->value()) display(index);
    if (index >= int(frames.size()) - 1) setPlaying(false);
}

void TimelineBar::onFramesChanged() {
    const auto& frames = m_recorder->frames();
    const QSignalBlocker block(m_slider);
    m_slider->setRange(0, std::max(0, int(frames.size()) - 1));
    if (m_live) {
        m_slider->setValue(m_slider->maximum());
    } else {
        // Thinning may have moved the shown frame: find it again by its time.
        const int index = m_recorder->frameNear(m_shownTime);
        if (index >= 0 && index != m_slider->value()) m_slider->setValue(index);
    }
    updateLabel();
}

void TimelineBar::updateLabel() {
    const auto& frames = m_recorder->frames();
    if (frames.empty()) {
        m_label->setText(tr("no snapshot yet"));
        return;
    }
    const int index = currentFrame();
    const auto& f = frames[std::size_t(std::clamp(index, 0, int(frames.size()) - 1))];
    const QString where = m_live ? tr("live") : tr("frame %1/%2").arg(index + 1).arg(frames.size());
    m_label->setText(tr("%1 · step %2 · %3 s").arg(where).arg(f.snapshot->step).arg(f.timeS, 0, 'f', 1));
}

}  // namespace kvscope::ui
