#pragma once
// The key to the grid's colours: free, cached, a few request colours, partly filled, shared; or,
// colouring by adapter, the base model's colour and each LoRA adapter's.

#include <QStringList>
#include <QWidget>
#include <string>
#include <vector>

#include "ui/inspector_scene.h"

namespace kvscope::ui {

class InspectorLegend final : public QWidget {
    Q_OBJECT

public:
    explicit InspectorLegend(QWidget* parent = nullptr);
    QSize sizeHint() const override;

    // The key for `colorBy`; `loras`: the adapters' names, by index (EngineSnapshot::loras).
    void setKey(ColorBy colorBy, const std::vector<std::string>& loras);
    // The rows' texts, top to bottom.
    QStringList entries() const;

protected:
    void paintEvent(QPaintEvent* event) override;

private:
    ColorBy m_colorBy = ColorBy::Request;
    std::vector<std::string> m_loras;
};

}  // namespace kvscope::ui
