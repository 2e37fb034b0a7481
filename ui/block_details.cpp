#include "ui/block_details.h"

#include <QObject>

#include "ui/inspector_palette.h"

namespace kvscope::ui {
namespace {

QString tr(const char* text) {
    return QObject::tr(text);
}

QString swatch(const QColor& c) {
    return QStringLiteral("<span style=\"color:%1\">■</span>").arg(c.name());
}

QString fillText(const InspectorScene& scene, int block) {
    const KvBlockInfo& info = scene.snapshot()->kv.blocks[std::size_t(block)];
    const int filled = info.state == BlockState::Cached ? scene.blockSize() : info.num_tokens;
    return QStringLiteral("%1/%2").arg(filled).arg(scene.blockSize());
}

}  // namespace

QString blockStateName(BlockKind kind) {
    switch (kind) {
        case BlockKind::Free:
            return tr("free");
        case BlockKind::Cached:
            return tr("cached (free, evictable prefix)");
        case BlockKind::Active:
            return tr("active");
        case BlockKind::Shared:
            return tr("shared");
    }
    return {};
}

QString hashText(const BlockHash& hash) {
    return QStringLiteral("%1%2").arg(hash.hi, 16, 16, QLatin1Char('0')).arg(hash.lo, 16, 16, QLatin1Char('0'));
}

QString tokensText(const BlockTokens& tokens) {
    return tokens.pieces.join(QStringLiteral("│"));
}

QString blockTooltip(const InspectorScene& scene, int block) {
    if (!scene.snapshot() || block < 0 || block >= scene.numBlocks()) return {};
    const KvBlockInfo& info = scene.snapshot()->kv.blocks[std::size_t(block)];
    const BlockKind kind = scene.kind(block);
    QString text = QObject::tr("block %1 · %2")
                       .arg(block)
                       .arg(kind == BlockKind::Shared ? QObject::tr("shared ×%1").arg(info.ref_count)
                                                      : blockStateName(kind).section(' ', 0, 0));
    if (kind != BlockKind::Free) text += QStringLiteral(" · ") + fillText(scene, block);
    if (scene.ownerRequest(block) >= 0) text += QObject::tr(" · request %1").arg(scene.ownerRequest(block));
    if (kind != BlockKind::Free && scene.lora(block) >= 0)
        text += QObject::tr(" · adapter %1").arg(scene.loraName(scene.lora(block)));
    return text;
}

QString blockDetailsHtml(const InspectorScene& scene, int block, const BlockTokens* tokens) {
    if (!scene.snapshot() || block < 0 || block >= scene.numBlocks()) return {};
    const KvBlockInfo& info = scene.snapshot()->kv.blocks[std::size_t(block)];
    const BlockKind kind = scene.kind(block);
    QString html =
        QObject::tr("<b>Block %1</b> %2 %3").arg(block).arg(swatch(scene.color(block)), blockStateName(kind));
    html += QObject::tr("<br>ref count %1 · %2 slots filled · last used at step %3")
                .arg(info.ref_count)
                .arg(kind == BlockKind::Free ? QStringLiteral("0/%1").arg(scene.blockSize()) : fillText(scene, block))
                .arg(info.last_used_step);
    if (kind != BlockKind::Free && !scene.snapshot()->loras.empty())
        html += QObject::tr("<br>KV computed with: %1").arg(scene.loraName(scene.lora(block)).toHtmlEscaped());
    html += QObject::tr("<br>hash: %1")
                .arg(info.hash ? QStringLiteral("<tt>%1</tt>").arg(hashText(*info.hash))
                               : QObject::tr("none (not a full, cached block)"));
    const auto mappings = scene.mappings(block);
    if (!mappings.empty()) {
        html += QObject::tr("<br><b>Sequences mapping to it</b> (%1):<ul style=\"margin:0\">").arg(mappings.size());
        for (const auto& m : mappings) {
            html += QObject::tr("<li>%1 request %2, sample %3 (sequence %4) → logical block #%5</li>")
                        .arg(swatch(requestColor(m.request)))
                        .arg(m.request)
                        .arg(m.sample)
                        .arg(m.seq)
                        .arg(m.logical);
        }
        html += QStringLiteral("</ul>");
    }
    if (kind == BlockKind::Free) {
        html += QObject::tr("<br>tokens: none (a free block's contents are stale)");
    } else if (tokens && tokens->blockId == block) {
        html += QObject::tr("<br><b>Tokens</b> (as of step %1): <tt>%2</tt>")
                    .arg(tokens->step)
                    .arg(tokensText(*tokens).toHtmlEscaped());
    } else {
        html += QObject::tr("<br>tokens: …");
    }
    return html;
}

QString requestDetailsHtml(const InspectorScene& scene, RequestId request) {
    if (!scene.snapshot()) return {};
    const auto tables = scene.tablesOf(request);
    QString html = QObject::tr("<b>Request %1</b> %2").arg(request).arg(swatch(requestColor(request)));
    if (tables.empty()) return html + QObject::tr("<br>holds no block in this snapshot (waiting or finished)");
    for (const auto& [m, table] : tables) {
        const SequenceSnapshot* s = scene.sequence(m.seq);
        html += QObject::tr(
                    "<br>sample %1 (sequence %2): %3 tokens, %4 computed, %5 from the prefix cache; "
                    "block table (logical → physical):<br><tt>")
                    .arg(m.sample)
                    .arg(m.seq)
                    .arg(s ? s->num_tokens : 0)
                    .arg(s ? s->num_computed_tokens : 0)
                    .arg(s ? s->num_cached_tokens : 0);
        QStringList entries;
        for (std::size_t i = 0; i < table.size(); ++i) {
            const bool shared = scene.kind(table[i]) == BlockKind::Shared;
            entries << QStringLiteral("#%1→%2%3").arg(i).arg(table[i]).arg(shared ? QStringLiteral("*") : QString());
        }
        html += entries.join(QStringLiteral("  ")) + QStringLiteral("</tt>");
    }
    html += QObject::tr("<br><small>* shared with another sequence</small>");
    return html;
}

}  // namespace kvscope::ui
