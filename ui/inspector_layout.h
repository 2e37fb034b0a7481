#pragma once
// The inspector grid's geometry, as plain math (no painting, so it is tested on its own).
//
// Blocks are laid out row-major in `columns` columns of square cells `pitch` pixels apart (the
// cell is pitch - gap wide). The pitch is the largest (up to kMaxPitch) at which every block fits
// the viewport at zoom 1. When that leaves cells of 1 or 2 pixels (tens of thousands of blocks),
// the columns follow the viewport's aspect instead and the fit zoom (minZoom, between 1 and 2)
// stretches the grid to fill it: 100,000 blocks in 1000 x 600 pixels get 409 columns of pitch 2,
// shown at zoom 1.22. That grid is the image the renderer paints once per snapshot. The view shows
// it through a zoom (>= minZoom) and a pan:
//     view point = pan + zoom * image point
// and hit testing inverts that. Zoom keeps the point under the cursor fixed; pan is clamped so
// the grid never leaves the view (and is centred on an axis where it is smaller than the view).

#include <QPointF>
#include <QRect>
#include <QRectF>
#include <QSize>

namespace kvscope::ui {

class InspectorLayout {
public:
    static constexpr int kMaxPitch = 40;
    static constexpr double kMaxCellPx = 120.0;  // largest cell when zoomed in

    // Lays out `numBlocks` for `viewport`; the zoom returns to 1 (the whole grid in view).
    void setup(int numBlocks, QSize viewport);
    // A new viewport for the same blocks: a zoomed-in view keeps its cell size and the block at
    // its centre; a view at zoom 1 fits the new viewport.
    void resizeViewport(QSize viewport);

    int numBlocks() const { return m_numBlocks; }
    int columns() const { return m_columns; }
    int rows() const { return m_rows; }
    int pitch() const { return m_pitch; }
    int gap() const { return m_pitch >= 4 ? 1 : 0; }
    QSize viewport() const { return m_viewport; }
    QSize imageSize() const { return QSize(m_columns * m_pitch, m_rows * m_pitch); }
    QRect cellInImage(int block) const;

    double zoom() const { return m_zoom; }
    double minZoom() const { return m_minZoom; }  // the whole grid in view
    QPointF pan() const { return m_pan; }
    double maxZoom() const;
    double cellPx() const { return m_zoom * m_pitch; }  // cell pitch on screen
    void setView(double zoom, QPointF pan);             // clamped
    void zoomAt(QPointF anchor, double factor);
    void panBy(QPointF delta) { setView(m_zoom, m_pan + delta); }
    void fit() { setView(m_minZoom, QPointF()); }

    QRectF cellInView(int block) const;
    QPointF cellCenterInView(int block) const { return cellInView(block).center(); }
    // The block whose cell (gap included) is under `viewPoint`, or -1.
    int blockAt(QPointF viewPoint) const;
    // Columns x rows of cells that intersect the view (x, y: first column and row).
    QRect visibleCells() const;

private:
    QPointF clampPan(double zoom, QPointF pan) const;

    int m_numBlocks = 0;
    int m_columns = 1;
    int m_rows = 0;
    int m_pitch = 1;
    QSize m_viewport;
    double m_zoom = 1.0;
    double m_minZoom = 1.0;
    QPointF m_pan;
};

}  // namespace kvscope::ui
