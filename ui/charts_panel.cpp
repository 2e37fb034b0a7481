#include "ui/charts_panel.h"

#include <qcustomplot.h>
#include <QCheckBox>
#include <QComboBox>
#include <QFileDialog>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QMessageBox>
#include <QPdfWriter>
#include <QPushButton>
#include <QTimer>
#include <QVBoxLayout>
#include <cmath>
#include <limits>

#include "ui/atomic_file.h"
#include "ui/plot_legend.h"
#include "ui/session.h"
#include "ui/session_recorder.h"

namespace kvscope::ui {
namespace {

constexpr double kWindows[] = {60.0, 300.0, 0.0};  // seconds shown when following; 0: the whole session

}  // namespace

ChartsPanel::ChartsPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_pause = new QCheckBox(tr("Pause"), this);
    m_pause->setObjectName("chartsPause");
    m_pause->setToolTip(tr("Freeze the charts (data keeps being recorded)"));
    m_follow = new QCheckBox(tr("Follow"), this);
    m_follow->setChecked(true);
    m_follow->setToolTip(tr("Keep the newest data in view (dragging or zooming a chart turns this off)"));
    m_window = new QComboBox(this);
    m_window->addItems({tr("last minute"), tr("last 5 minutes"), tr("whole session")});
    auto* save = new QPushButton(tr("Save…"), this);
    save->setToolTip(tr("Save all charts as PNG or PDF"));
    auto* controls = new QHBoxLayout;
    controls->addWidget(m_pause);
    controls->addWidget(m_follow);
    controls->addWidget(m_window);
    controls->addStretch();
    controls->addWidget(new QLabel(tr("drag: pan · wheel: zoom time"), this));
    controls->addWidget(save);

    m_grid = new QGridLayout;
    m_grid->setSpacing(4);
    createCharts();
    arrangeCharts(3);

    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addLayout(controls);
    layout->addLayout(m_grid, 1);

    m_replot = new QTimer(this);
    m_replot->setInterval(100);
    connect(m_replot, &QTimer::timeout, this, [this] {
        if (m_dirty && !isPaused()) replotNow();
    });
    m_replot->start();
    connect(session->recorder(), &SessionRecorder::sampleAdded, this, &ChartsPanel::feed);
    connect(session->recorder(), &SessionRecorder::samplesReset, this, &ChartsPanel::rebuild);
    connect(m_pause, &QCheckBox::toggled, this, [this](bool paused) {
        if (!paused) replotNow();
    });
    connect(m_follow, &QCheckBox::toggled, this, [this](bool on) {
        if (on) replotNow();
    });
    connect(m_window, &QComboBox::currentIndexChanged, this, &ChartsPanel::replotNow);
    connect(save, &QPushButton::clicked, this, &ChartsPanel::saveAs);
}

// The charts and their series (vLLM's dashboard, roughly).
void ChartsPanel::createCharts() {
    const QColor blue(0x1f, 0x77, 0xb4), orange(0xff, 0x7f, 0x0e), green(0x2c, 0xa0, 0x2c), red(0xd6, 0x27, 0x28),
        purple(0x94, 0x67, 0xbd), grey(0x7f, 0x7f, 0x7f);
    QCustomPlot* p = addChart(tr("Throughput"), tr("tokens/s"), false);
    addSeries(p, tr("prompt"), &ChartPoint::promptTps, blue);
    addSeries(p, tr("generation"), &ChartPoint::generationTps, orange);
    p = addChart(tr("KV cache"), tr("%"), true);
    addSeries(p, tr("usage"), &ChartPoint::kvUsagePct, green);
    addSeries(p, tr("fragmentation"), &ChartPoint::fragmentationPct, red);
    p = addChart(tr("Prefix sharing"), tr("shared blocks"), false);
    addSeries(p, tr("shared blocks"), &ChartPoint::sharedBlocks, purple);
    addSeries(p, tr("MiB saved"), &ChartPoint::savedMiB, orange, true);
    p = addChart(tr("Prefix-cache hit rate"), tr("% of prompt tokens"), true);
    addSeries(p, tr("hit rate"), &ChartPoint::prefixHitRatePct, blue);
    p = addChart(tr("Requests"), tr("requests"), false);
    addSeries(p, tr("running"), &ChartPoint::running, green);
    addSeries(p, tr("waiting"), &ChartPoint::waiting, grey);
    addSeries(p, tr("preempted"), &ChartPoint::preempted, red);
    p = addChart(tr("Latency (last 10 s)"), tr("TTFT ms"), false);
    m_latency = p;
    p->legend->setWrap(3);  // TTFT above, ITL below
    addSeries(p, tr("TTFT p50"), &ChartPoint::ttftP50Ms, blue);
    addSeries(p, tr("TTFT p99"), &ChartPoint::ttftP99Ms, blue, false, Qt::DashLine);
    addSeries(p, tr("TTFT mean"), &ChartPoint::ttftMeanMs, blue, false, Qt::DotLine);
    addSeries(p, tr("ITL p50"), &ChartPoint::itlP50Ms, orange, true);
    addSeries(p, tr("ITL p99"), &ChartPoint::itlP99Ms, orange, true, Qt::DashLine);
    addSeries(p, tr("ITL mean"), &ChartPoint::itlMeanMs, orange, true, Qt::DotLine);
    p->yAxis2->setLabel(tr("ITL ms"));
    p->setToolTip(
        tr("Over the requests of the last 10 s. Circled, after attaching to a server: its histograms "
           "before the attach (since it started)."));
}

// An attach's first point holds the server's latency since it started: circled, labelled, and
// not joined to the windowed points that follow.
void ChartsPanel::markBeforeAttach(const ChartPoint& point) {
    const double timeS = point.timeS;
    bool marked = false;
    for (const Series& s : m_series) {
        QCPGraph* graph = s.graph;
        if (graph->parentPlot() != m_latency) continue;
        graph->addData(std::nextafter(timeS, std::numeric_limits<double>::infinity()),
                       std::numeric_limits<double>::quiet_NaN());
        if (!std::isfinite(point.*(s.field))) continue;
        marked = true;
        auto* tracer = new QCPItemTracer(m_latency);
        tracer->setGraph(graph);
        tracer->setGraphKey(timeS);
        tracer->setStyle(QCPItemTracer::tsCircle);
        tracer->setSize(8);
        tracer->setPen(QPen(graph->pen().color(), 1.6));
        tracer->setBrush(Qt::NoBrush);
        tracer->setClipToAxisRect(false);  // whole, though the point is on the chart's left edge
        m_marks.push_back(tracer);
    }
    if (!marked) return;  // the server had not served a request
    auto* label = new QCPItemText(m_latency);
    label->position->setTypeX(QCPItemPosition::ptPlotCoords);
    label->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    label->position->setCoords(timeS, 0.02);
    label->setPositionAlignment(Qt::AlignLeft | Qt::AlignTop);
    label->setPadding(QMargins(6, 0, 0, 0));
    label->setText(tr("before attach"));
    label->setColor(QColor(0x60, 0x60, 0x60));
    QFont small = font();
    small.setPointSizeF(small.pointSizeF() * 0.85);
    label->setFont(small);
    label->setClipToAxisRect(true);
    m_marks.push_back(label);
}

void ChartsPanel::arrangeCharts(int columns) {
    if (columns == m_columns) return;
    m_columns = columns;
    for (QCustomPlot* plot : m_plots) m_grid->removeWidget(plot);
    for (std::size_t i = 0; i < m_plots.size(); ++i) m_grid->addWidget(m_plots[i], int(i) / columns, int(i) % columns);
}

void ChartsPanel::resizeEvent(QResizeEvent* event) {
    QWidget::resizeEvent(event);
    arrangeCharts(width() > height() * 3 / 2 ? 3 : 2);  // wide: 3 x 2, tall: 2 x 3
}

QCustomPlot* ChartsPanel::addChart(const QString& title, const QString& yLabel, bool percent) {
    auto* plot = new QCustomPlot(this);
    plot->setObjectName(QStringLiteral("chart%1").arg(m_plots.size()));
    plot->setMinimumSize(160, 110);  // six of them still fit beside the batch queue on a 1280 x 800 screen
    plot->plotLayout()->insertRow(0);
    QFont titleFont = font();
    titleFont.setBold(true);
    plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot, title, titleFont));
    plot->yAxis->setLabel(yLabel);
    QSharedPointer<QCPAxisTickerTime> ticker(new QCPAxisTickerTime);
    ticker->setTimeFormat(QStringLiteral("%m:%s"));
    ticker->setTickCount(3);
    QFont tickFont = font();
    tickFont.setPointSizeF(tickFont.pointSizeF() * 0.85);
    plot->xAxis->setTickLabelFont(tickFont);
    plot->yAxis->setTickLabelFont(tickFont);
    plot->yAxis2->setTickLabelFont(tickFont);
    plot->xAxis->setTicker(ticker);
    plot->xAxis->setRange(0, 60);
    plot->yAxis->setRange(0, percent ? 100 : 1);
    plot->setProperty("percent", percent);
    QFont legendFont = font();
    legendFont.setPointSizeF(legendFont.pointSizeF() * 0.85);
    showLegendUnderTitle(plot, legendFont, 10);
    plot->legend->setRowSpacing(0);
    plot->setInteractions(QCP::iRangeDrag | QCP::iRangeZoom);
    plot->axisRect()->setRangeDrag(Qt::Horizontal);
    plot->axisRect()->setRangeZoom(Qt::Horizontal);
    plot->setNoAntialiasingOnDrag(true);
    connect(plot->xAxis, qOverload<const QCPRange&>(&QCPAxis::rangeChanged), this, [this, plot] { syncRanges(plot); });
    // A drag or a wheel on a chart means the user looks somewhere: stop following.
    connect(plot, &QCustomPlot::mousePress, this, [this] { m_follow->setChecked(false); });
    connect(plot, &QCustomPlot::mouseWheel, this, [this] { m_follow->setChecked(false); });
    m_plots.push_back(plot);
    return plot;
}

void ChartsPanel::addSeries(QCustomPlot* plot, const QString& name, double ChartPoint::*field, const QColor& color,
                            bool secondAxis, Qt::PenStyle style) {
    if (secondAxis) {
        plot->yAxis2->setVisible(true);
        plot->yAxis2->setLabel(name);
    }
    QCPGraph* graph = plot->addGraph(plot->xAxis, secondAxis ? plot->yAxis2 : plot->yAxis);
    graph->setName(name);
    QPen pen(color, 1.6, style);
    graph->setPen(pen);
    graph->setAdaptiveSampling(true);
    const int index = int(std::find(m_plots.begin(), m_plots.end(), plot) - m_plots.begin());
    m_series.push_back(Series{QStringLiteral("%1/%2").arg(index).arg(name), graph, field});
}

QStringList ChartsPanel::seriesNames() const {
    QStringList names;
    for (const Series& s : m_series) names << s.name;
    return names;
}

QCPGraph* ChartsPanel::series(const QString& name) const {
    for (const Series& s : m_series) {
        if (s.name == name) return s.graph;
    }
    return nullptr;
}

bool ChartsPanel::isPaused() const {
    return m_pause->isChecked();
}

void ChartsPanel::setPaused(bool paused) {
    m_pause->setChecked(paused);
}

bool ChartsPanel::isFollowing() const {
    return m_follow->isChecked();
}

void ChartsPanel::feed() {
    const SessionRecorder* recorder = m_session->recorder();
    const std::size_t n = recorder->samples().size();
    for (; m_fed < n; ++m_fed) {
        const ChartPoint p = recorder->point(m_fed);
        if (m_fed > 0 && recorder->samples()[m_fed].afterGap) {
            // No sample was taken since the one before: a NaN between them breaks every line there
            // (in the middle, so that it keeps a pixel of its own when adaptive sampling thins).
            const double between = (recorder->samples()[m_fed - 1].timeS + p.timeS) / 2;
            for (const Series& s : m_series) s.graph->addData(between, std::numeric_limits<double>::quiet_NaN());
        }
        for (const Series& s : m_series) s.graph->addData(p.timeS, p.*(s.field));
        if (p.beforeAttach) markBeforeAttach(p);
    }
    m_dirty = true;
}

void ChartsPanel::rebuild() {
    for (const Series& s : m_series) s.graph->data()->clear();
    for (QCPAbstractItem* item : m_marks) m_latency->removeItem(item);
    m_marks.clear();
    m_fed = 0;
    feed();
}

void ChartsPanel::syncRanges(QCustomPlot* source) {
    if (m_syncing) return;
    m_syncing = true;
    for (QCustomPlot* plot : m_plots) {
        if (plot == source) continue;
        plot->xAxis->setRange(source->xAxis->range());
        plot->replot(QCustomPlot::rpQueuedReplot);
    }
    m_syncing = false;
    rescaleValues();
}

void ChartsPanel::followNewest() {
    const auto& samples = m_session->recorder()->samples();
    if (samples.empty()) return;
    const double last = samples.back().timeS;
    const double window = kWindows[std::clamp(m_window->currentIndex(), 0, 2)];
    const double first = window > 0 ? std::max(samples.front().timeS, last - window) : samples.front().timeS;
    m_syncing = true;
    for (QCustomPlot* plot : m_plots) plot->xAxis->setRange(first, std::max(last, first + 1.0));
    m_syncing = false;
}

// Value axes fit the data in view (percent charts stay at 0..100).
void ChartsPanel::rescaleValues() {
    for (QCustomPlot* plot : m_plots) {
        if (plot->property("percent").toBool()) continue;
        for (QCPAxis* axis : {plot->yAxis, plot->yAxis2}) {
            bool found = false;
            QCPRange range(0, 1);
            for (int g = 0; g < plot->graphCount(); ++g) {
                QCPGraph* graph = plot->graph(g);
                if (graph->valueAxis() != axis) continue;
                bool ok = false;
                const QCPRange r = graph->getValueRange(ok, QCP::sdBoth, plot->xAxis->range());
                if (!ok) continue;
                range = found ? QCPRange(std::min(range.lower, r.lower), std::max(range.upper, r.upper)) : r;
                found = true;
            }
            if (!axis->visible() && axis == plot->yAxis2) continue;
            const double upper = found ? range.upper : 1.0;
            axis->setRange(0, upper > 0 ? upper * 1.1 : 1.0);
        }
    }
}

void ChartsPanel::replotNow() {
    if (m_follow->isChecked()) followNewest();
    rescaleValues();
    for (QCustomPlot* plot : m_plots) plot->replot(QCustomPlot::rpQueuedReplot);
    m_dirty = false;
}

QImage ChartsPanel::renderImage(int width, int height) const {
    const int cols = 2, rows = int((m_plots.size() + 1) / 2);
    const int w = width / cols, h = height / rows;
    QImage image(width, height, QImage::Format_RGB32);
    image.fill(Qt::white);
    QCPPainter painter(&image);
    for (std::size_t i = 0; i < m_plots.size(); ++i) {
        painter.save();
        painter.translate(int(i % cols) * w, int(i / cols) * h);
        m_plots[i]->toPainter(&painter, w, h);
        painter.restore();
    }
    return image;
}

QString ChartsPanel::savePng(const QString& path) const {
    return saveImageAtomically(path, renderImage(1600, 1200));
}

QString ChartsPanel::savePdf(const QString& path) const {
    return writeAtomically(path, [this](QIODevice& out) {
        QPdfWriter writer(&out);
        writer.setPageSize(QPageSize(QSizeF(800, 600), QPageSize::Point));
        writer.setPageMargins(QMarginsF(0, 0, 0, 0));
        writer.setResolution(72);
        writer.setCreator(QStringLiteral("kvscope"));
        QCPPainter painter(&writer);
        const int w = 400, h = 200;
        for (std::size_t i = 0; i < m_plots.size(); ++i) {
            painter.save();
            painter.translate(int(i % 2) * w, int(i / 2) * h);
            m_plots[i]->toPainter(&painter, w, h);
            painter.restore();
        }
        return painter.end();
    });
}

void ChartsPanel::saveAs() {
    QString filter;
    const QString path = QFileDialog::getSaveFileName(this, tr("Save Charts"), QStringLiteral("kvscope-charts.png"),
                                                      tr("PNG image (*.png);;PDF document (*.pdf)"), &filter);
    if (path.isEmpty()) return;
    const QString error = path.endsWith(QStringLiteral(".pdf"), Qt::CaseInsensitive) ? savePdf(path) : savePng(path);
    if (!error.isEmpty()) QMessageBox::critical(this, tr("Cannot save the charts"), error);
}

}  // namespace kvscope::ui
