#include "ui/kv_grid_view.h"

#include <QCursor>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <QWheelEvent>
#include <cmath>

#include "ui/block_details.h"
#include "ui/inspector_palette.h"

namespace kvscope::ui {

KvGridView::KvGridView(QWidget* parent) : QWidget(parent) {
    setMouseTracking(true);
    setFocusPolicy(Qt::ClickFocus);
    setAttribute(Qt::WA_OpaquePaintEvent);
    setCursor(Qt::CrossCursor);
    m_layout.setup(0, size());
}

void KvGridView::setScene(InspectorScene scene) {
    const bool relayoutNeeded = scene.numBlocks() != m_layout.numBlocks();
    m_scene = std::move(scene);
    if (relayoutNeeded) {
        m_layout.setup(m_scene.numBlocks(), size());
        emit viewChanged();
    }
    m_grid = renderGrid(m_scene, m_layout);
    m_viewDirty = true;
    update();
    if (m_hover >= 0 && QToolTip::isVisible()) {
        m_hover = m_hover < m_scene.numBlocks() ? m_hover : -1;
        if (m_hover >= 0) QToolTip::showText(QCursor::pos(), blockTooltip(m_scene, m_hover), this);
    }
}

void KvGridView::setHighlight(InspectorHighlight highlight) {
    m_highlight = std::move(highlight);
    m_viewDirty = true;
    update();
}

void KvGridView::relayout() {
    m_layout.resizeViewport(size());
    m_grid = renderGrid(m_scene, m_layout);
    viewMoved();
}

void KvGridView::viewMoved() {
    m_viewDirty = true;
    update();
    emit viewChanged();
}

void KvGridView::zoomBy(double factor) {
    m_layout.zoomAt(QPointF(width() / 2.0, height() / 2.0), factor);
    viewMoved();
}

void KvGridView::fit() {
    m_layout.fit();
    viewMoved();
}

void KvGridView::paintEvent(QPaintEvent*) {
    if (m_viewDirty || m_view.size() != size()) {
        m_view = QImage(size().expandedTo(QSize(1, 1)), QImage::Format_RGB32);
        QPainter vp(&m_view);
        renderView(vp, m_grid, m_scene, m_layout, m_highlight);
        m_viewDirty = false;
    }
    QPainter p(this);
    p.drawImage(0, 0, m_view);
    if (m_hover >= 0 && m_hover < m_scene.numBlocks()) {
        p.setPen(QPen(InspectorPalette::selection(), 1.5));
        p.setBrush(Qt::NoBrush);
        p.drawRect(m_layout.cellInView(m_hover).adjusted(-1.5, -1.5, 1.5, 1.5));
    }
}

void KvGridView::resizeEvent(QResizeEvent*) {
    relayout();
}

void KvGridView::mousePressEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return;
    m_pressed = true;
    m_dragging = false;
    m_pressPos = event->position().toPoint();
    m_lastPos = event->position();
}

void KvGridView::mouseMoveEvent(QMouseEvent* event) {
    const QPointF pos = event->position();
    if (m_pressed && !m_dragging && (pos.toPoint() - m_pressPos).manhattanLength() > 4) {
        m_dragging = true;
        setCursor(Qt::ClosedHandCursor);
    }
    if (m_dragging) {
        m_layout.panBy(pos - m_lastPos);
        m_lastPos = pos;
        viewMoved();
        return;
    }
    setHover(m_layout.blockAt(pos), event->globalPosition().toPoint());
}

void KvGridView::mouseReleaseEvent(QMouseEvent* event) {
    if (event->button() != Qt::LeftButton) return;
    if (!m_dragging) emit blockClicked(m_layout.blockAt(event->position()));
    m_pressed = m_dragging = false;
    setCursor(Qt::CrossCursor);
}

void KvGridView::mouseDoubleClickEvent(QMouseEvent* event) {
    if (event->button() == Qt::LeftButton) emit blockDoubleClicked(m_layout.blockAt(event->position()));
}

void KvGridView::wheelEvent(QWheelEvent* event) {
    const double notches = event->angleDelta().y() / 120.0;
    if (notches == 0) return;
    m_layout.zoomAt(event->position(), std::pow(1.25, notches));
    viewMoved();
    event->accept();
}

void KvGridView::leaveEvent(QEvent*) {
    setHover(-1, QPoint());
}

void KvGridView::keyPressEvent(QKeyEvent* event) {
    switch (event->key()) {
        case Qt::Key_Plus:
        case Qt::Key_Equal:
            zoomBy(1.5);
            break;
        case Qt::Key_Minus:
            zoomBy(1 / 1.5);
            break;
        case Qt::Key_0:
            fit();
            break;
        default:
            QWidget::keyPressEvent(event);
    }
}

void KvGridView::setHover(int block, QPoint globalPos) {
    if (block == m_hover) return;
    m_hover = block;
    update();
    if (block >= 0) {
        QToolTip::showText(globalPos, blockTooltip(m_scene, block), this);
    } else {
        QToolTip::hideText();
    }
    emit hoveredBlockChanged(block);
}

}  // namespace kvscope::ui
