#pragma once
// The key to the grid's colours: free, cached, a few request colours, partly filled, shared.

#include <QWidget>

namespace kvscope::ui {

class InspectorLegend final : public QWidget {
    Q_OBJECT

public:
    explicit InspectorLegend(QWidget* parent = nullptr);
    QSize sizeHint() const override;

protected:
    void paintEvent(QPaintEvent* event) override;
};

}  // namespace kvscope::ui
