#include "ui/lab_charts.h"

#include <qcustomplot.h>
#include <algorithm>

#include "ui/plot_legend.h"

namespace kvscope::ui {
namespace {

QFont scaled(const QFont& font, double factor, bool bold = false) {
    QFont f = font;
    f.setPointSizeF(f.pointSizeF() * factor);
    f.setBold(bold);
    return f;
}

void clear(QCustomPlot* plot) {
    plot->clearItems();
    plot->clearGraphs();
    plot->clearPlottables();
}

}  // namespace

const std::array<LabPart, 5>& labParts() {
    static const std::array<LabPart, 5> parts{{
        {QObject::tr("token states"), &lab::MemoryUse::token, QColor(0x2c, 0xa0, 0x2c)},
        {QObject::tr("reserved"), &lab::MemoryUse::reserved, QColor(0xff, 0xbb, 0x55)},
        {QObject::tr("internal frag."), &lab::MemoryUse::internal, QColor(0xd6, 0x27, 0x28)},
        {QObject::tr("external frag."), &lab::MemoryUse::external, QColor(0x94, 0x67, 0xbd)},
        {QObject::tr("prefix cache"), &lab::MemoryUse::cached, QColor(0x9e, 0xc9, 0xe8)},
    }};
    return parts;
}

QCustomPlot* makeLabPlot(const QString& title, QWidget* parent) {
    auto* plot = new QCustomPlot(parent);
    plot->setMinimumSize(260, 200);
    plot->plotLayout()->insertRow(0);
    plot->plotLayout()->addElement(0, 0, new QCPTextElement(plot, title, scaled(plot->font(), 1.0, true)));
    const QFont small = scaled(plot->font(), 0.85);
    for (QCPAxis* axis : {plot->xAxis, plot->yAxis, plot->yAxis2}) {
        axis->setTickLabelFont(small);
        axis->setLabelFont(small);
    }
    showLegendUnderTitle(plot, small, 8);
    return plot;
}

void drawShareBars(QCustomPlot* plot, const lab::LabReport& report) {
    clear(plot);
    QVector<double> keys;
    QSharedPointer<QCPAxisTickerText> ticker(new QCPAxisTickerText);
    for (std::size_t i = 0; i < report.runs.size(); ++i) {
        keys << double(i + 1);
        ticker->addTick(double(i + 1), QString::fromStdString(report.runs[i].name));
    }
    QCPBars* below = nullptr;
    for (int p = 0; p < kNumUsedParts; ++p) {
        const LabPart& part = labParts()[std::size_t(p)];
        auto* bars = new QCPBars(plot->xAxis, plot->yAxis);
        bars->setName(part.name);
        bars->setWidth(0.7);
        bars->setStackingGap(0);
        bars->setPen(QPen(part.color.darker(130)));
        bars->setBrush(part.color);
        QVector<double> values;
        for (const lab::LabRun& run : report.runs) {
            const lab::MemoryUse& m = run.totals.slot_steps;
            values << (m.used() > 0 ? 100.0 * double(m.*part.field) / double(m.used()) : 0.0);
        }
        bars->setData(keys, values, true);
        if (below) bars->moveAbove(below);
        below = bars;
    }
    for (std::size_t i = 0; i < report.runs.size(); ++i) {
        auto* label = new QCPItemText(plot);
        label->position->setCoords(double(i + 1), 100.0);
        label->setPositionAlignment(Qt::AlignHCenter | Qt::AlignBottom);
        label->setFont(scaled(plot->font(), 0.85, true));
        label->setText(QStringLiteral("%1%").arg(100.0 * report.runs[i].totals.token_share_of_used(), 0, 'f', 1));
        label->setClipToAxisRect(false);
    }
    plot->xAxis->setTicker(ticker);
    // Slanted names when many; room on the right for the last one (a label that would cross the
    // widget's edge is not drawn at all).
    const bool slanted = report.runs.size() > 4;
    plot->xAxis->setTickLabelRotation(slanted ? 35 : 0);
    plot->axisRect()->setMinimumMargins(QMargins(0, 0, slanted ? 70 : 0, 0));
    plot->xAxis->setSubTicks(false);
    plot->xAxis->setTickLength(0, 3);
    plot->xAxis->setRange(0.4, double(report.runs.size()) + 0.6);
    plot->yAxis->setRange(0, 110);
    plot->yAxis->setLabel(QObject::tr("% of memory in use"));
    plot->replot();
}

QCPBars* shareBars(QCustomPlot* plot, int part) {
    const QString name = labParts()[std::size_t(part)].name;
    for (int i = 0; i < plot->plottableCount(); ++i) {
        auto* bars = qobject_cast<QCPBars*>(plot->plottable(i));
        if (bars && bars->name() == name) return bars;
    }
    return nullptr;
}

void drawMemorySeries(QCustomPlot* plot, const lab::LabRun& run, int maxPoints) {
    clear(plot);
    const std::size_t n = run.steps.size();
    const std::size_t stride = std::max<std::size_t>(1, (n + std::size_t(maxPoints) - 1) / std::size_t(maxPoints));
    QVector<double> keys, capacity, batch;
    for (std::size_t i = 0; i < n; i += stride) {
        keys << double(run.steps[i].step);
        capacity << double(run.steps[i].memory.capacity);
        batch << double(run.steps[i].num_batched_seqs);
    }
    // Stacked areas: each graph is the running sum of the parts up to it, filled down to the one below.
    QVector<double> sum(keys.size(), 0.0);
    QCPGraph* below = nullptr;
    for (const LabPart& part : labParts()) {
        std::int64_t total = 0;
        for (std::size_t i = 0, k = 0; i < n; i += stride, ++k) {
            sum[qsizetype(k)] += double(run.steps[i].memory.*part.field);
            total += run.steps[i].memory.*part.field;
        }
        if (total == 0 && &part != &labParts()[0]) continue;  // a part this allocator never has
        QCPGraph* graph = plot->addGraph(plot->xAxis, plot->yAxis);
        graph->setName(part.name);
        graph->setData(keys, sum, true);
        graph->setPen(QPen(part.color.darker(120), 1));
        graph->setBrush(part.color);
        if (below) graph->setChannelFillGraph(below);
        below = graph;
    }
    QCPGraph* cap = plot->addGraph(plot->xAxis, plot->yAxis);
    cap->setName(QObject::tr("budget"));
    cap->setData(keys, capacity, true);
    cap->setPen(QPen(Qt::black, 1, Qt::DashLine));
    plot->yAxis2->setVisible(true);
    QCPGraph* sizes = plot->addGraph(plot->xAxis, plot->yAxis2);
    sizes->setName(QObject::tr("batch size"));
    sizes->setData(keys, batch, true);
    sizes->setPen(QPen(QColor(0x1f, 0x77, 0xb4), 1.4));
    sizes->setLineStyle(QCPGraph::lsStepLeft);

    plot->xAxis->setLabel(QObject::tr("step"));
    plot->yAxis->setLabel(QObject::tr("KV slots (tokens)"));
    plot->yAxis2->setLabel(QObject::tr("batch size"));
    plot->xAxis->setRange(keys.isEmpty() ? 0.0 : keys.front(), keys.isEmpty() ? 1.0 : std::max(keys.back(), 1.0));
    plot->yAxis->setRange(0, double(run.capacity) * 1.05);
    const double maxBatch = batch.isEmpty() ? 1.0 : *std::max_element(batch.begin(), batch.end());
    plot->yAxis2->setRange(0, std::max(1.0, maxBatch) * 1.1);
    plot->replot();
}

}  // namespace kvscope::ui
