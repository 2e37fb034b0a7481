#include "ui/inspector_legend.h"

#include <QPainter>

#include "ui/inspector_palette.h"

namespace kvscope::ui {
namespace {

constexpr int kSwatch = 14;
constexpr int kRowHeight = 20;

}  // namespace

InspectorLegend::InspectorLegend(QWidget* parent) : QWidget(parent) {
    setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Fixed);
}

QSize InspectorLegend::sizeHint() const {
    return QSize(200, kRowHeight * 5 + 6);
}

void InspectorLegend::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing, false);
    int y = 3;
    auto row = [&](const QString& text, auto drawSwatch) {
        const QRect sw(4, y + (kRowHeight - kSwatch) / 2, kSwatch, kSwatch);
        drawSwatch(sw);
        p.setPen(palette().color(QPalette::WindowText));
        p.drawText(QRect(sw.right() + 8, y, width() - sw.right() - 10, kRowHeight), Qt::AlignVCenter, text);
        y += kRowHeight;
    };
    row(tr("free"), [&](QRect r) { p.fillRect(r, InspectorPalette::free()); });
    row(tr("cached (free, reusable prefix)"), [&](QRect r) { p.fillRect(r, InspectorPalette::cached()); });
    row(tr("held by a request (its colour)"), [&](QRect r) {
        const int w = r.width() / 3;
        for (int i = 0; i < 3; ++i) p.fillRect(QRect(r.left() + i * w, r.top(), w, r.height()), requestColor(i + 1));
    });
    row(tr("partly filled (filled part left)"), [&](QRect r) {
        const QColor c = requestColor(2);
        p.fillRect(r, unfilledTint(c));
        p.fillRect(QRect(r.left(), r.top(), r.width() * 5 / 8, r.height()), c);
    });
    row(tr("shared: ref count > 1 (×n)"), [&](QRect r) {
        p.fillRect(r, InspectorPalette::shared());
        QFont f = font();
        f.setPixelSize(9);
        p.setFont(f);
        p.setPen(textOn(InspectorPalette::shared()));
        p.drawText(r, Qt::AlignCenter, QStringLiteral("×2"));
        p.setFont(font());
    });
}

}  // namespace kvscope::ui
