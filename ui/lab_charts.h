#pragma once
// The memory lab's two charts, drawn from a LabReport with QCustomPlot:
// - share bars: one stacked bar per allocator, the parts of the memory in use (token states,
//   reserved, internal and external fragmentation) as shares of it, over the whole replay: the
//   PagedAttention paper's Figure 2, the token share written above each bar;
// - memory over time: one allocator's parts as stacked areas over the steps (token slots), its
//   capacity as a line, and the batch size on the second axis.

#include <QColor>
#include <QString>
#include <array>
#include <cstdint>

#include "engine/lab/lab_result.h"

class QCustomPlot;
class QWidget;
class QCPBars;

namespace kvscope::ui {

struct LabPart {
    QString name;
    std::int64_t lab::MemoryUse::*field;
    QColor color;
};

// token, reserved, internal, external (the memory in use), then cached (prefix cache, evictable).
const std::array<LabPart, 5>& labParts();
constexpr int kNumUsedParts = 4;

// A chart with a title row and a one-line legend under it, as the session charts have.
QCustomPlot* makeLabPlot(const QString& title, QWidget* parent);

// Replaces the plot's contents with one stacked bar per run (x = 1, 2, ...), in percent.
void drawShareBars(QCustomPlot* plot, const lab::LabReport& report);
// The bars of part `part` (an index into labParts(), < kNumUsedParts); null before a draw.
QCPBars* shareBars(QCustomPlot* plot, int part);

// Replaces the plot's contents with `run`'s memory over the steps (at most `maxPoints` of them,
// every k-th step).
void drawMemorySeries(QCustomPlot* plot, const lab::LabRun& run, int maxPoints = 1500);

}  // namespace kvscope::ui
