#include "ui/inspector_renderer.h"

#include <QFontMetricsF>
#include <QPainter>
#include <QPainterPath>
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "ui/inspector_palette.h"

namespace kvscope::ui {

QImage renderGrid(const InspectorScene& scene, const InspectorLayout& layout) {
    QImage image(layout.imageSize().expandedTo(QSize(1, 1)), QImage::Format_RGB32);
    image.fill(InspectorPalette::background());
    const int n = std::min(scene.numBlocks(), layout.numBlocks());
    if (n == 0) return image;
    const bool showFill = layout.pitch() >= 4;
    const QRgb freeRgb = InspectorPalette::free().rgb(), cachedRgb = InspectorPalette::cached().rgb();
    const QColor shared = InspectorPalette::shared();
    const std::pair<QRgb, QRgb> sharedRgb{shared.rgb(), unfilledTint(shared).rgb()};
    // Colours per request, computed once per request rather than once per block.
    std::unordered_map<RequestId, std::pair<QRgb, QRgb>> requestRgb;
    auto colours = [&](RequestId id) {
        auto it = requestRgb.find(id);
        if (it == requestRgb.end()) {
            const QColor c = requestColor(id);
            it = requestRgb.emplace(id, std::pair{c.rgb(), unfilledTint(c).rgb()}).first;
        }
        return it->second;
    };
    // Colouring by adapter: per adapter index, held and cached.
    const bool byAdapter = scene.colorBy() == ColorBy::Adapter;
    std::unordered_map<std::int32_t, std::pair<QRgb, QRgb>> adapterRgb, cachedAdapterRgb;
    auto adapterColours = [&](std::int32_t lora, bool cached) {
        auto& cache = cached ? cachedAdapterRgb : adapterRgb;
        auto it = cache.find(lora);
        if (it == cache.end()) {
            const QColor c = cached ? cachedAdapterColor(lora) : adapterColor(lora);
            it = cache.emplace(lora, std::pair{c.rgb(), unfilledTint(c).rgb()}).first;
        }
        return it->second;
    };
    const auto& blocks = scene.snapshot()->kv.blocks;
    const int blockSize = std::max(1, scene.blockSize());
    for (int b = 0; b < n; ++b) {
        const KvBlockInfo& info = blocks[std::size_t(b)];
        const QRect r = layout.cellInImage(b);
        QRgb full = freeRgb, rest = freeRgb;
        int filledWidth = r.width();
        if (info.state == BlockState::Cached) {
            full = rest = byAdapter ? adapterColours(scene.lora(b), true).first : cachedRgb;
        } else if (info.state == BlockState::Active) {
            const RequestId owner = scene.ownerRequest(b);
            const auto [f, t] = byAdapter                         ? adapterColours(scene.lora(b), false)
                                : info.ref_count > 1 || owner < 0 ? sharedRgb
                                                                  : colours(owner);
            full = f;
            rest = showFill ? t : f;
            if (showFill) filledWidth = (info.num_tokens * r.width() + blockSize / 2) / blockSize;
        }
        for (int y = r.top(); y <= r.bottom(); ++y) {
            QRgb* line = reinterpret_cast<QRgb*>(image.scanLine(y)) + r.left();
            std::fill(line, line + filledWidth, full);
            std::fill(line + filledWidth, line + r.width(), rest);
        }
    }
    return image;
}

namespace {

void drawDetailedCells(QPainter& p, const InspectorScene& scene, const InspectorLayout& layout) {
    const QRect visible = layout.visibleCells();
    const double cell = layout.cellPx();
    QFont font = p.font();
    font.setPixelSize(std::clamp(int(cell * 0.36), 8, 15));
    QFont small = font;
    small.setPixelSize(std::clamp(int(cell * 0.2), 7, 11));
    const int bs = scene.blockSize();
    for (int row = visible.top(); row < visible.top() + visible.height(); ++row) {
        for (int col = visible.left(); col < visible.left() + visible.width(); ++col) {
            const int b = row * layout.columns() + col;
            if (b >= scene.numBlocks()) break;
            const QRectF r = layout.cellInView(b);
            const QColor color = scene.color(b);
            const BlockKind kind = scene.kind(b);
            const bool partial = kind == BlockKind::Active || kind == BlockKind::Shared;
            p.fillRect(r, partial ? unfilledTint(color) : color);
            if (partial) p.fillRect(QRectF(r.left(), r.top(), r.width() * scene.fill(b), r.height()), color);
            const KvBlockInfo& info = scene.snapshot()->kv.blocks[std::size_t(b)];
            p.setPen(textOn(color));
            if (kind == BlockKind::Shared && cell >= 18) {
                const QString count = QStringLiteral("×%1").arg(info.ref_count);
                p.setFont(font);
                if (QFontMetricsF(font).horizontalAdvance(count) > r.width() - 2) p.setFont(small);
                if (QFontMetricsF(p.font()).horizontalAdvance(count) <= r.width() - 2)
                    p.drawText(r, Qt::AlignCenter, count);
            }
            if (cell >= 48) {
                p.setFont(small);
                p.drawText(r.adjusted(3, 1, -3, -1), Qt::AlignLeft | Qt::AlignTop, QString::number(b));
                if (kind != BlockKind::Free)
                    p.drawText(r.adjusted(3, 1, -3, -1), Qt::AlignRight | Qt::AlignBottom,
                               QStringLiteral("%1/%2").arg(kind == BlockKind::Cached ? bs : info.num_tokens).arg(bs));
            }
        }
    }
}

void drawArrowHead(QPainter& p, QPointF from, QPointF to, double size) {
    const QPointF d = to - from;
    const double len = std::hypot(d.x(), d.y());
    if (len < 1e-6) return;
    const QPointF u = d / len, n(-u.y(), u.x());
    const QPointF tip = to - u * (size * 0.6);
    QPolygonF head;
    head << tip << tip - u * size + n * (size * 0.5) << tip - u * size - n * (size * 0.5);
    p.drawPolygon(head);
}

void drawRequestTables(QPainter& p, const InspectorScene& scene, const InspectorLayout& layout, RequestId request) {
    const double cell = layout.cellPx();
    const double outline = cell >= 8 ? 2.0 : 1.0;
    for (const auto& [mapping, table] : scene.tablesOf(request)) {
        p.setBrush(Qt::NoBrush);
        p.setPen(QPen(InspectorPalette::selection(), outline));
        for (const std::int32_t b : table) p.drawRect(layout.cellInView(b).adjusted(-1, -1, 1, 1));
        if (table.size() < 2) continue;
        QPen line(InspectorPalette::path(), std::clamp(cell * 0.08, 1.2, 3.0));
        line.setCapStyle(Qt::RoundCap);
        p.setPen(line);
        p.setBrush(InspectorPalette::path());
        for (std::size_t i = 1; i < table.size(); ++i) {
            const QPointF a = layout.cellCenterInView(table[i - 1]), b = layout.cellCenterInView(table[i]);
            p.drawLine(a, b);
            if (cell >= 14) drawArrowHead(p, a, b, std::clamp(cell * 0.3, 5.0, 12.0));
        }
        if (cell >= 30) {
            QFont f = p.font();
            f.setPixelSize(std::clamp(int(cell * 0.22), 8, 12));
            f.setBold(true);
            p.setFont(f);
            for (std::size_t i = 0; i < table.size(); ++i) {
                const QRectF r = layout.cellInView(table[i]);
                const QRectF tag(r.left() + 2, r.bottom() - f.pixelSize() - 4, f.pixelSize() * 2.2, f.pixelSize() + 3);
                p.fillRect(tag, QColor(255, 255, 255, 220));
                p.setPen(InspectorPalette::selection());
                p.drawText(tag, Qt::AlignCenter, QStringLiteral("#%1").arg(i));
            }
        }
    }
}

}  // namespace

void renderView(QPainter& p, const QImage& grid, const InspectorScene& scene, const InspectorLayout& layout,
                const InspectorHighlight& highlight) {
    p.fillRect(QRect(QPoint(0, 0), layout.viewport()), InspectorPalette::background());
    if (scene.numBlocks() == 0) return;
    if (layout.cellPx() < kDetailCellPx) {
        p.save();
        p.setRenderHint(QPainter::SmoothPixmapTransform, false);
        p.translate(layout.pan());
        p.scale(layout.zoom(), layout.zoom());
        p.drawImage(QPointF(0, 0), grid);
        p.restore();
    } else {
        drawDetailedCells(p, scene, layout);
    }
    p.save();
    p.setRenderHint(QPainter::Antialiasing, true);
    for (const RequestId request : highlight.requests) drawRequestTables(p, scene, layout, request);
    if (highlight.block >= 0 && highlight.block < scene.numBlocks()) {
        p.setBrush(Qt::NoBrush);
        p.setPen(QPen(InspectorPalette::focus(), 3));
        p.drawRect(layout.cellInView(highlight.block).adjusted(-2, -2, 2, 2));
    }
    p.restore();
}

}  // namespace kvscope::ui
