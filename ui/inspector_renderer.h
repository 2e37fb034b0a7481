#pragma once
// Painting the inspector: the whole grid into an image once per snapshot (pixel writes, so
// 100,000 blocks take about a millisecond), and the view from that image — scaled through the
// zoom and pan, or, once cells are large enough to read, the visible cells drawn one by one with
// their ref counts and fill — plus the selected request's block tables and the clicked block.

#include <QImage>
#include <vector>

#include "ui/inspector_layout.h"
#include "ui/inspector_scene.h"

class QPainter;

namespace kvscope::ui {

struct InspectorHighlight {
    std::vector<RequestId> requests;  // their block tables are drawn as logical -> physical paths
    int block = -1;                   // the clicked block
};

// Cells this large (on screen) or larger are drawn one by one, with text.
inline constexpr double kDetailCellPx = 12.0;

QImage renderGrid(const InspectorScene& scene, const InspectorLayout& layout);
void renderView(QPainter& painter, const QImage& grid, const InspectorScene& scene, const InspectorLayout& layout,
                const InspectorHighlight& highlight);

}  // namespace kvscope::ui
