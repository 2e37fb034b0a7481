#include "ui/plot_legend.h"

#include <qcustomplot.h>

namespace kvscope::ui {

void showLegendUnderTitle(QCustomPlot* plot, const QFont& font, int columnSpacing) {
    plot->legend->setVisible(true);
    plot->legend->setFont(font);
    plot->legend->setBorderPen(Qt::NoPen);
    plot->legend->setBrush(Qt::NoBrush);
    plot->legend->setFillOrder(QCPLayoutGrid::foColumnsFirst);
    plot->legend->setColumnSpacing(columnSpacing);
    plot->legend->setMargins(QMargins(0, 0, 0, 0));
    auto* legendRow = new QCPLayoutGrid;
    plot->plotLayout()->insertRow(1);
    plot->plotLayout()->addElement(1, 0, legendRow);
    legendRow->setMargins(QMargins(0, 0, 0, 2));
    plot->axisRect()->insetLayout()->take(plot->legend);
    legendRow->addElement(0, 0, plot->legend);
    plot->plotLayout()->setRowStretchFactor(0, 0.001);
    plot->plotLayout()->setRowStretchFactor(1, 0.001);
}

}  // namespace kvscope::ui
