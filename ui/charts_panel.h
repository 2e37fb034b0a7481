#pragma once
// Charts of the session over time (QCustomPlot): tokens/s, KV usage and fragmentation, sharing,
// prefix-cache hit rate, requests by state, and TTFT / ITL percentiles and means (after attaching
// to a server, its first point is the server's history, marked "before attach"). Fed from the
// SessionRecorder's samples; redrawn at most ~10 times a second. While an attached server did not
// answer no sample was taken: the lines break there (MetricSample::afterGap). Drag and wheel pan and zoom the
// time axis (all charts together); Pause freezes the view; the charts save as PNG or PDF.

#include <QWidget>
#include <vector>

#include "ui/metric_sample.h"

class QCPAbstractItem;
class QCPGraph;
class QCheckBox;
class QComboBox;
class QGridLayout;
class QCustomPlot;
class QTimer;

namespace kvscope::ui {

class Session;

class ChartsPanel final : public QWidget {
    Q_OBJECT

public:
    explicit ChartsPanel(Session* session, QWidget* parent = nullptr);

    int numCharts() const { return int(m_plots.size()); }
    QCustomPlot* chart(int index) const { return m_plots[std::size_t(index)]; }
    // The series as "chart/name" and how many points each holds (tests, exports).
    QStringList seriesNames() const;
    QCPGraph* series(const QString& name) const;
    bool isPaused() const;
    void setPaused(bool paused);
    bool isFollowing() const;

    // All charts in one image / one PDF page. Return "" or a one-line error.
    QImage renderImage(int width, int height) const;
    QString savePng(const QString& path) const;
    QString savePdf(const QString& path) const;

public slots:
    void saveAs();
    void replotNow();

private slots:
    void feed();
    void rebuild();

protected:
    void resizeEvent(QResizeEvent* event) override;

private:
    struct Series {
        QString name;
        QCPGraph* graph = nullptr;
        double ChartPoint::*field = nullptr;
    };
    QCustomPlot* addChart(const QString& title, const QString& yLabel, bool percent);
    void addSeries(QCustomPlot* plot, const QString& name, double ChartPoint::*field, const QColor& color,
                   bool secondAxis = false, Qt::PenStyle style = Qt::SolidLine);
    void syncRanges(QCustomPlot* source);
    void followNewest();
    void rescaleValues();
    void createCharts();
    void markBeforeAttach(const ChartPoint& point);
    void arrangeCharts(int columns);

    Session* m_session;
    std::vector<QCustomPlot*> m_plots;
    std::vector<Series> m_series;
    QCustomPlot* m_latency = nullptr;
    std::vector<QCPAbstractItem*> m_marks;  // the before-attach marks on m_latency
    std::size_t m_fed = 0;
    bool m_dirty = false;
    bool m_syncing = false;
    QCheckBox* m_pause = nullptr;
    QCheckBox* m_follow = nullptr;
    QComboBox* m_window = nullptr;
    QTimer* m_replot = nullptr;
    QGridLayout* m_grid = nullptr;
    int m_columns = 0;
};

}  // namespace kvscope::ui
