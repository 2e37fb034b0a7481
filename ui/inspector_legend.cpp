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
    return QSize(200, kRowHeight * int(entries().size()) + 6);
}

void InspectorLegend::setKey(ColorBy colorBy, const std::vector<std::string>& loras) {
    if (colorBy == m_colorBy && loras == m_loras) return;
    m_colorBy = colorBy;
    m_loras = loras;
    updateGeometry();
    update();
}

QStringList InspectorLegend::entries() const {
    if (m_colorBy == ColorBy::Request) {
        return {tr("free"), tr("cached (free, reusable prefix)"), tr("held by a request (its colour)"),
                tr("partly filled (filled part left)"), tr("shared: ref count > 1 (×n)")};
    }
    QStringList rows = {tr("free"), tr("base model (no adapter)")};
    for (const std::string& name : m_loras) rows << tr("adapter %1").arg(QString::fromStdString(name));
    rows << tr("cached: the adapter's colour, greyed");
    return rows;
}

void InspectorLegend::paintEvent(QPaintEvent*) {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing, false);
    const QStringList texts = entries();
    int y = 3, index = 0;
    auto row = [&](auto drawSwatch) {
        const QRect sw(4, y + (kRowHeight - kSwatch) / 2, kSwatch, kSwatch);
        drawSwatch(sw);
        p.setPen(palette().color(QPalette::WindowText));
        p.drawText(QRect(sw.right() + 8, y, width() - sw.right() - 10, kRowHeight), Qt::AlignVCenter, texts[index++]);
        y += kRowHeight;
    };
    row([&](QRect r) { p.fillRect(r, InspectorPalette::free()); });
    if (m_colorBy == ColorBy::Adapter) {
        for (std::int32_t lora = -1; lora < std::int32_t(m_loras.size()); ++lora)
            row([&](QRect r) { p.fillRect(r, adapterColor(lora)); });
        row([&](QRect r) {
            const int w = r.width() / 2;
            p.fillRect(QRect(r.left(), r.top(), w, r.height()), cachedAdapterColor(-1));
            p.fillRect(QRect(r.left() + w, r.top(), r.width() - w, r.height()), cachedAdapterColor(0));
        });
        return;
    }
    row([&](QRect r) { p.fillRect(r, InspectorPalette::cached()); });
    row([&](QRect r) {
        const int w = r.width() / 3;
        for (int i = 0; i < 3; ++i) p.fillRect(QRect(r.left() + i * w, r.top(), w, r.height()), requestColor(i + 1));
    });
    row([&](QRect r) {
        const QColor c = requestColor(2);
        p.fillRect(r, unfilledTint(c));
        p.fillRect(QRect(r.left(), r.top(), r.width() * 5 / 8, r.height()), c);
    });
    row([&](QRect r) {
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
