#pragma once
// The KV block grid: every physical block as a cell, painted from a cached image of the shown
// snapshot (re-rendered only when the snapshot, the size, the view or the highlight changes).
// Wheel zooms about the cursor, dragging pans, hovering names the block, a click pins it and a
// double click follows its request's block table.

#include <QImage>
#include <QWidget>

#include "ui/inspector_layout.h"
#include "ui/inspector_renderer.h"
#include "ui/inspector_scene.h"

namespace kvscope::ui {

class KvGridView final : public QWidget {
    Q_OBJECT

public:
    explicit KvGridView(QWidget* parent = nullptr);

    void setScene(InspectorScene scene);
    const InspectorScene& scene() const { return m_scene; }
    void setHighlight(InspectorHighlight highlight);
    const InspectorHighlight& highlight() const { return m_highlight; }
    const InspectorLayout& layout() const { return m_layout; }
    int hoveredBlock() const { return m_hover; }

    void zoomBy(double factor);
    void fit();

    QSize sizeHint() const override { return QSize(640, 420); }
    QSize minimumSizeHint() const override { return QSize(160, 120); }

signals:
    void hoveredBlockChanged(int block);  // -1: none
    void blockClicked(int block);
    void blockDoubleClicked(int block);
    void viewChanged();

protected:
    void paintEvent(QPaintEvent* event) override;
    void resizeEvent(QResizeEvent* event) override;
    void mousePressEvent(QMouseEvent* event) override;
    void mouseMoveEvent(QMouseEvent* event) override;
    void mouseReleaseEvent(QMouseEvent* event) override;
    void mouseDoubleClickEvent(QMouseEvent* event) override;
    void wheelEvent(QWheelEvent* event) override;
    void leaveEvent(QEvent* event) override;
    void keyPressEvent(QKeyEvent* event) override;

private:
    void relayout();
    void viewMoved();
    void setHover(int block, QPoint globalPos);

    InspectorScene m_scene;
    InspectorLayout m_layout;
    InspectorHighlight m_highlight;
    QImage m_grid;  // the whole grid at zoom 1, per snapshot
    QImage m_view;  // what is on screen, per view change
    bool m_viewDirty = true;
    int m_hover = -1;
    QPoint m_pressPos;
    QPointF m_lastPos;
    bool m_pressed = false;
    bool m_dragging = false;
};

}  // namespace kvscope::ui
