// Where the main window goes on a screen: a geometry remembered on a 1600 x 1000 screen comes
// back cut to a 1280 x 800 one and inside it; one that fits stays where it is.

#include <QtTest>

#include "tests/ui/qt_test_main.h"
#include "ui/window_fit.h"

namespace window_fit_test {

using kvscope::ui::fitToScreen;

class WindowFitTest : public QObject {
    Q_OBJECT

private slots:
    void aWindowThatFitsStaysWhereItIs() {
        const QRect screen(0, 0, 1280, 800);
        QCOMPARE(fitToScreen(QRect(100, 50, 800, 600), screen), QRect(100, 50, 800, 600));
        QCOMPARE(fitToScreen(QRect(0, 0, 1280, 800), screen), QRect(0, 0, 1280, 800));
    }

    void aLargerWindowIsCutToTheScreenAndMovedIntoIt() {
        const QRect screen(0, 0, 1280, 800);
        QCOMPARE(fitToScreen(QRect(0, 20, 1600, 1000), screen), QRect(0, 0, 1280, 800));
        // Fits in size, but hangs over the right and bottom edges: moved in, size kept.
        QCOMPARE(fitToScreen(QRect(900, 500, 800, 600), screen), QRect(480, 200, 800, 600));
        // Left of and above the screen: moved in.
        QCOMPARE(fitToScreen(QRect(-300, -40, 800, 600), screen), QRect(0, 0, 800, 600));
    }

    void aSecondScreenAndAPanelCountFromTheirOrigin() {
        const QRect right(1920, 32, 1280, 768);  // a second screen with a 32-pixel panel on top
        QCOMPARE(fitToScreen(QRect(1900, 0, 1600, 1000), right), right);
        QCOMPARE(fitToScreen(QRect(2000, 100, 400, 300), right), QRect(2000, 100, 400, 300));
    }

    void noScreenAreaLeavesTheWindowAlone() {
        QCOMPARE(fitToScreen(QRect(0, 0, 1600, 1000), QRect()), QRect(0, 0, 1600, 1000));
    }
};

}  // namespace window_fit_test

KVSCOPE_QTEST_MAIN(window_fit_test, WindowFitTest)
#include "window_fit_test.moc"
