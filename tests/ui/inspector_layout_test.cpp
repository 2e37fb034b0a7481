// The inspector grid's geometry: the pitch chosen to fit every block, cell rectangles, hit
// testing through zoom and pan, zooming about a fixed point, and pan clamping — all worked out
// by hand for small grids.

#include <QtTest>

#include "tests/ui/qt_test_main.h"
#include "ui/inspector_layout.h"

namespace inspector_layout_test {

using kvscope::ui::InspectorLayout;

class InspectorLayoutTest : public QObject {
    Q_OBJECT

private slots:
    void aHundredThousandBlocksFillTheViewAtPitchTwo() {
        InspectorLayout l;
        l.setup(100000, QSize(1000, 600));
        // Square fitting gives pitch 2 (pitch 3: 333 columns, 301 rows = 903 px > 600), so the
        // grid takes the view's aspect: ceil(sqrt(100000 * 1000 / 600)) = 409 columns, 245 rows,
        // pitch min(1000 / 409, 600 / 245) = 2, stretched by min(1000 / 818, 600 / 490) to fill.
        QCOMPARE(l.columns(), 409);
        QCOMPARE(l.rows(), 245);
        QCOMPARE(l.pitch(), 2);
        QCOMPARE(l.gap(), 0);
        QCOMPARE(l.imageSize(), QSize(818, 490));
        QCOMPARE(l.minZoom(), 1000.0 / 818);
        QCOMPARE(l.zoom(), l.minZoom());
        QCOMPARE(l.cellInImage(99999), QRect(99999 % 409 * 2, 244 * 2, 2, 2));
        // Stretched, the grid spans the view's width and is centred in its height.
        QCOMPARE(l.pan().x(), 0.0);
        QVERIFY(qAbs(l.cellInView(408).right() - 1000.0) < 1e-6);
        QCOMPARE(l.blockAt(QPointF(999, l.pan().y() + 1)), 408);
        l.zoomAt(QPointF(0, 0), 0.1);  // no further out than the fit
        QCOMPARE(l.zoom(), l.minZoom());
    }

    void fewBlocksGetLargeCellsWithAGap() {
        InspectorLayout l;
        l.setup(64, QSize(800, 600));
        QCOMPARE(l.pitch(), InspectorLayout::kMaxPitch);  // 40: 20 columns, 4 rows
        QCOMPARE(l.columns(), 20);
        QCOMPARE(l.rows(), 4);
        QCOMPARE(l.gap(), 1);
        QCOMPARE(l.cellInImage(21), QRect(40, 40, 39, 39));
        // Centred: 800 x 160 in 800 x 600.
        QCOMPARE(l.pan(), QPointF(0, 220));
        QCOMPARE(l.cellInView(21), QRectF(40, 260, 39, 39));
    }

    void hitTestingFindsTheCellUnderAPointOrNone() {
        InspectorLayout l;
        l.setup(30, QSize(800, 600));  // 20 columns, 2 rows; the second row holds 10 blocks
        const QPointF origin = l.pan();
        QCOMPARE(l.blockAt(origin + QPointF(45, 45)), 21);
        QCOMPARE(l.blockAt(origin + QPointF(0, 0)), 0);
        QCOMPARE(l.blockAt(origin + QPointF(39.5, 0)), 0);  // the gap belongs to its cell
        QCOMPARE(l.blockAt(origin + QPointF(40, 0)), 1);
        QCOMPARE(l.blockAt(origin + QPointF(15 * 40 + 5, 45)), -1);  // block 35 does not exist
        QCOMPARE(l.blockAt(origin + QPointF(-1, 5)), -1);
        QCOMPARE(l.blockAt(origin + QPointF(5, 80)), -1);  // below the last row
        QCOMPARE(l.blockAt(QPointF(799, 599)), -1);
    }

    void zoomKeepsThePointUnderTheCursorAndHitTestingFollows() {
        InspectorLayout l;
        l.setup(10000, QSize(1000, 500));  // pitch 7: 142 columns, 71 rows
        QCOMPARE(l.pitch(), 7);
        const QPointF anchor(333, 222);
        const int before = l.blockAt(anchor);
        const QPointF imagePoint = (anchor - l.pan()) / l.zoom();
        l.zoomAt(anchor, 4.0);
        QCOMPARE(l.zoom(), 4.0);
        QCOMPARE(l.blockAt(anchor), before);
        const QPointF after = (anchor - l.pan()) / l.zoom();
        QVERIFY(qAbs(after.x() - imagePoint.x()) < 1e-9 && qAbs(after.y() - imagePoint.y()) < 1e-9);
        // Cells scale with the zoom.
        const QRectF cell = l.cellInView(before);
        QCOMPARE(cell.width(), 6.0 * 4);
        QVERIFY(cell.contains(anchor));
        QCOMPARE(l.cellPx(), 28.0);
    }

    void zoomIsClampedAndPanKeepsTheGridInView() {
        InspectorLayout l;
        l.setup(10000, QSize(1000, 500));
        l.zoomAt(QPointF(0, 0), 1000.0);
        QCOMPARE(l.cellPx(), InspectorLayout::kMaxCellPx);
        l.zoomAt(QPointF(0, 0), 1e-6);
        QCOMPARE(l.zoom(), l.minZoom());
        QCOMPARE(l.minZoom(), 1.0);  // pitch 7 fills by itself
        l.setView(4.0, QPointF(0, 0));
        l.panBy(QPointF(5000, 5000));  // the grid's top-left corner cannot leave the view's
        QCOMPARE(l.pan(), QPointF(0, 0));
        l.panBy(QPointF(-1e6, -1e6));  // nor its bottom-right corner
        const QSize image = l.imageSize();
        QCOMPARE(l.pan(), QPointF(1000 - image.width() * 4.0, 500 - image.height() * 4.0));
    }

    void aResizeKeepsAZoomedViewsCellSizeAndCentreBlock() {
        InspectorLayout l;
        l.setup(10000, QSize(1000, 500));  // pitch 7
        l.zoomAt(QPointF(500, 250), 5.0);  // cells of 35 px
        const int centre = l.blockAt(QPointF(500, 250));
        l.resizeViewport(QSize(800, 700));  // pitch 7 still, now 114 columns x 88 rows
        QCOMPARE(l.pitch(), 7);
        QCOMPARE(l.columns(), 114);
        QCOMPARE(l.cellPx(), 35.0);
        QCOMPARE(l.blockAt(QPointF(400, 350)), centre);
        // At zoom 1 a resize fits the new viewport.
        l.fit();
        l.resizeViewport(QSize(400, 300));
        QCOMPARE(l.zoom(), 1.0);
        QCOMPARE(l.pitch(), 3);  // 133 columns x 76 rows = 228 px (pitch 4: 100 rows = 400 px)
    }

    void visibleCellsAreThoseThatIntersectTheView() {
        InspectorLayout l;
        l.setup(10000, QSize(1000, 500));  // pitch 7
        QCOMPARE(l.visibleCells(), QRect(0, 0, 142, 71));
        l.setView(10.0, QPointF(-700, -350));  // cells of 70 px; the view starts 10 cells in, 5 down
        const QRect v = l.visibleCells();
        QCOMPARE(v.left(), 10);
        QCOMPARE(v.top(), 5);
        QCOMPARE(v.width(), 15);  // 1000 / 70 = 14.3
        QCOMPARE(v.height(), 8);  // 500 / 70 = 7.1
        QVERIFY(l.cellInView(v.top() * l.columns() + v.left()).intersects(QRectF(0, 0, 1000, 500)));
    }
};

}  // namespace inspector_layout_test

KVSCOPE_QTEST_MAIN(inspector_layout_test, InspectorLayoutTest)
#include "inspector_layout_test.moc"
