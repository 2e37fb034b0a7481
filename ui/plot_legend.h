#pragma once
// The legend layout every chart of the workbench uses: the plot's legend shown in one row of its
// own under the title (row 0), where it hides no data, without a frame.

#include <QFont>

class QCustomPlot;

namespace kvscope::ui {

void showLegendUnderTitle(QCustomPlot* plot, const QFont& font, int columnSpacing);

}  // namespace kvscope::ui
