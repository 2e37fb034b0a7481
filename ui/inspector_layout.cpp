#include "ui/inspector_layout.h"

#include <algorithm>
#include <cmath>

namespace kvscope::ui {

void InspectorLayout::setup(int numBlocks, QSize viewport) {
    m_numBlocks = std::max(0, numBlocks);
    m_viewport = QSize(std::max(1, viewport.width()), std::max(1, viewport.height()));
    const int w = m_viewport.width(), h = m_viewport.height();
    m_pitch = 1;
    for (int p = kMaxPitch; p >= 1; --p) {
        const int cols = std::max(1, w / p);
        const int rows = (m_numBlocks + cols - 1) / cols;
        if (rows * p <= h) {
            m_pitch = p;
            break;
        }
    }
    m_columns = std::max(1, std::min(w / m_pitch, std::max(1, m_numBlocks)));
    m_rows = (m_numBlocks + m_columns - 1) / m_columns;
    m_minZoom = 1.0;
    if (m_pitch <= 2 && m_numBlocks > 0) {
        // Dense: columns in the viewport's aspect, stretched to fill it.
        m_columns = std::clamp(int(std::ceil(std::sqrt(double(m_numBlocks) * w / h))), 1, m_numBlocks);
        m_rows = (m_numBlocks + m_columns - 1) / m_columns;
        m_pitch = std::max(1, std::min(w / m_columns, h / m_rows));
        m_minZoom = std::max(1.0, std::min(double(w) / (m_columns * m_pitch), double(h) / (m_rows * m_pitch)));
    }
    m_zoom = m_minZoom;
    m_pan = clampPan(m_zoom, QPointF());
}

void InspectorLayout::resizeViewport(QSize viewport) {
    if (m_zoom <= m_minZoom + 1e-9 || m_numBlocks == 0) {
        setup(m_numBlocks, viewport);
        return;
    }
    const QPointF oldCentre(m_viewport.width() / 2.0, m_viewport.height() / 2.0);
    const QPointF imageCentre = (oldCentre - m_pan) / m_zoom;
    const int col = std::clamp(int(imageCentre.x()) / m_pitch, 0, m_columns - 1);
    const int row = std::clamp(int(imageCentre.y()) / m_pitch, 0, std::max(0, m_rows - 1));
    const int centreBlock = std::min(row * m_columns + col, m_numBlocks - 1);
    const double cell = cellPx();
    setup(m_numBlocks, viewport);
    const double zoom = cell / m_pitch;
    const QRect r = cellInImage(centreBlock);
    const QPointF newCentre(m_viewport.width() / 2.0, m_viewport.height() / 2.0);
    setView(zoom,
            newCentre - QPointF(r.x() + m_pitch / 2.0, r.y() + m_pitch / 2.0) * std::clamp(zoom, m_minZoom, maxZoom()));
}

QRect InspectorLayout::cellInImage(int block) const {
    const int col = block % m_columns, row = block / m_columns;
    return QRect(col * m_pitch, row * m_pitch, m_pitch - gap(), m_pitch - gap());
}

double InspectorLayout::maxZoom() const {
    return std::max(m_minZoom, kMaxCellPx / m_pitch);
}

QPointF InspectorLayout::clampPan(double zoom, QPointF pan) const {
    auto axis = [](double view, double content, double p) {
        if (content <= view) return std::floor((view - content) / 2.0);
        return std::clamp(p, view - content, 0.0);
    };
    const QSize image = imageSize();
    return QPointF(axis(m_viewport.width(), image.width() * zoom, pan.x()),
                   axis(m_viewport.height(), image.height() * zoom, pan.y()));
}

void InspectorLayout::setView(double zoom, QPointF pan) {
    m_zoom = std::clamp(zoom, m_minZoom, maxZoom());
    m_pan = clampPan(m_zoom, pan);
}

void InspectorLayout::zoomAt(QPointF anchor, double factor) {
    const double zoom = std::clamp(m_zoom * factor, m_minZoom, maxZoom());
    const QPointF imagePoint = (anchor - m_pan) / m_zoom;  // stays under the anchor
    setView(zoom, anchor - imagePoint * zoom);
}

QRectF InspectorLayout::cellInView(int block) const {
    const QRect r = cellInImage(block);
    return QRectF(m_pan.x() + r.x() * m_zoom, m_pan.y() + r.y() * m_zoom, r.width() * m_zoom, r.height() * m_zoom);
}

int InspectorLayout::blockAt(QPointF viewPoint) const {
    const QPointF p = (viewPoint - m_pan) / m_zoom;
    if (p.x() < 0 || p.y() < 0) return -1;
    const int col = int(p.x()) / m_pitch, row = int(p.y()) / m_pitch;
    if (col >= m_columns || row >= m_rows) return -1;
    const int block = row * m_columns + col;
    return block < m_numBlocks ? block : -1;
}

QRect InspectorLayout::visibleCells() const {
    const double cell = cellPx();
    const int c0 = std::clamp(int(std::floor(-m_pan.x() / cell)), 0, m_columns - 1);
    const int r0 = std::clamp(int(std::floor(-m_pan.y() / cell)), 0, std::max(0, m_rows - 1));
    const int c1 = std::clamp(int(std::ceil((m_viewport.width() - m_pan.x()) / cell)), 0, m_columns);
    const int r1 = std::clamp(int(std::ceil((m_viewport.height() - m_pan.y()) / cell)), 0, m_rows);
    return QRect(c0, r0, std::max(0, c1 - c0), std::max(0, r1 - r0));
}

}  // namespace kvscope::ui
