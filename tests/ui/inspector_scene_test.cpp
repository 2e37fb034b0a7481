// The inspector's view of a hand-made snapshot (8 blocks of 4 slots; sequences 1 and 2 of
// requests 10 and 11 share blocks 0 and 1), checked against what the snapshot says by
// construction: block kinds and colours, mappings, block tables, the painted grid's pixels, the
// detailed view, stable request colours, and the hover / details texts.

#include <QPainter>
#include <QtTest>
#include <cmath>

#include "tests/ui/qt_test_main.h"
#include "ui/block_details.h"
#include "ui/inspector_palette.h"
#include "ui/inspector_renderer.h"
#include "ui/inspector_scene.h"

namespace inspector_scene_test {

using namespace kvscope;
using namespace kvscope::ui;

std::shared_ptr<const EngineSnapshot> handMadeSnapshot() {
    auto s = std::make_shared<EngineSnapshot>();
    s->step = 42;
    KvSnapshot& kv = s->kv;
    kv.stats.block_size = 4;
    kv.stats.num_blocks = 8;
    auto block = [](int id, BlockState st, int ref, int tokens, bool hashed) {
        KvBlockInfo b;
        b.id = id;
        b.state = st;
        b.ref_count = ref;
        b.num_tokens = tokens;
        if (hashed) b.hash = BlockHash{0x0123456789abcdefull, 0xfedcba9876543210ull};
        return b;
    };
    const std::vector<KvBlockInfo> blocks = {
        block(0, BlockState::Active, 2, 4, true),  block(1, BlockState::Active, 2, 4, true),
        block(2, BlockState::Active, 1, 3, false), block(3, BlockState::Active, 1, 4, false),
        block(4, BlockState::Cached, 0, 4, true),  block(5, BlockState::Free, 0, 0, false),
        block(6, BlockState::Free, 0, 0, false),   block(7, BlockState::Free, 0, 0, false)};
    // Sequence 1: blocks 0, 1, 2; sequence 2: blocks 0, 1, 3.
    kv.sequences = {KvSequenceInfo{1, 11, 0, 3}, KvSequenceInfo{2, 12, 3, 3}};
    kv.table_block_ids = {0, 1, 2, 0, 1, 3};
    const std::vector<std::int32_t> ownerOffsets = {0, 2, 4, 5, 6, 6, 6, 6, 6};
    const std::vector<SeqId> ownerIds = {1, 2, 1, 2, 1, 2};
    kv.blocks = KvBlockList(blocks, ownerOffsets, ownerIds);
    SequenceSnapshot a;
    a.id = 1, a.request_id = 10, a.status = SequenceStatus::Running, a.num_tokens = 12, a.num_computed_tokens = 11;
    SequenceSnapshot b;
    b.id = 2, b.request_id = 11, b.status = SequenceStatus::Running, b.num_tokens = 13, b.num_computed_tokens = 12;
    b.num_cached_tokens = 8;
    s->sequences = {a, b};
    return s;
}

class InspectorSceneTest : public QObject {
    Q_OBJECT

private slots:
    void kindsOwnersAndColoursFollowTheSnapshot() {
        const InspectorScene scene(handMadeSnapshot());
        QCOMPARE(scene.numBlocks(), 8);
        QCOMPARE(scene.kind(0), BlockKind::Shared);
        QCOMPARE(scene.kind(2), BlockKind::Active);
        QCOMPARE(scene.kind(4), BlockKind::Cached);
        QCOMPARE(scene.kind(5), BlockKind::Free);
        QCOMPARE(scene.ownerRequest(2), RequestId(10));
        QCOMPARE(scene.ownerRequest(3), RequestId(11));
        QCOMPARE(scene.ownerRequest(4), RequestId(-1));
        QCOMPARE(scene.color(0), InspectorPalette::shared());
        QCOMPARE(scene.color(2).rgb(), requestColor(10).rgb());
        QCOMPARE(scene.color(4), InspectorPalette::cached());
        QCOMPARE(scene.color(7), InspectorPalette::free());
        QCOMPARE(scene.fill(2), 0.75);
        QCOMPARE(scene.fill(4), 1.0);
    }

    void aCountersOnlySnapshotGivesAnEmptyScene() {
        auto s = std::make_shared<EngineSnapshot>();
        s->detail = SnapshotDetail::CountersOnly;
        QCOMPARE(InspectorScene(s).numBlocks(), 0);
        QVERIFY(InspectorScene(s).snapshot() == nullptr);
    }

    void mappingsAndBlockTablesComeFromTheTables() {
        const InspectorScene scene(handMadeSnapshot());
        const auto m = scene.mappings(1);
        QCOMPARE(int(m.size()), 2);
        QCOMPARE(m[0].seq, SeqId(1));
        QCOMPARE(m[0].request, RequestId(10));
        QCOMPARE(m[0].logical, 1);
        QCOMPARE(m[1].request, RequestId(11));
        QCOMPARE(int(scene.mappings(4).size()), 0);
        const auto tables = scene.tablesOf(11);
        QCOMPARE(int(tables.size()), 1);
        QCOMPARE(tables[0].second, (std::vector<std::int32_t>{0, 1, 3}));
        const auto live = scene.liveRequests();
        QCOMPARE(int(live.size()), 2);
        QCOMPARE(live[0].id, RequestId(10));
        QCOMPARE(live[0].blocks, 3);
    }

    void theGridImageHasEachCellInItsColourWithItsFillLevel() {
        const InspectorScene scene(handMadeSnapshot());
        InspectorLayout layout;
        layout.setup(8, QSize(400, 100));  // pitch 40, 8 columns
        const QImage grid = renderGrid(scene, layout);
        QCOMPARE(grid.size(), QSize(320, 40));
        auto at = [&](int block, double fx) {
            const QRect r = layout.cellInImage(block);
            return grid.pixel(r.left() + int(fx * r.width()), r.center().y());
        };
        QCOMPARE(at(0, 0.5), InspectorPalette::shared().rgb());
        QCOMPARE(at(2, 0.2), requestColor(10).rgb());                // 3 of 4 slots: the left three quarters
        QCOMPARE(at(2, 0.9), unfilledTint(requestColor(10)).rgb());  // the empty slot
        QCOMPARE(at(3, 0.9), requestColor(11).rgb());
        QCOMPARE(at(4, 0.5), InspectorPalette::cached().rgb());
        QCOMPARE(at(6, 0.5), InspectorPalette::free().rgb());
        QCOMPARE(grid.pixel(39, 20), InspectorPalette::background().rgb());  // the gap between cells
    }

    void theDetailedViewDrawsCellsWhereTheZoomPutsThem() {
        const InspectorScene scene(handMadeSnapshot());
        InspectorLayout layout;
        layout.setup(8, QSize(400, 100));
        layout.setView(2.0, QPointF(0, 0));  // cells of 80 px: detailed
        QImage view(400, 100, QImage::Format_RGB32);
        QPainter p(&view);
        renderView(p, renderGrid(scene, layout), scene, layout, InspectorHighlight{});
        p.end();
        const QRectF cell4 = layout.cellInView(4);
        QCOMPARE(view.pixel(int(cell4.left()) + 5, int(cell4.top()) + 30), InspectorPalette::cached().rgb());
        const QRectF cell3 = layout.cellInView(3);
        QCOMPARE(view.pixel(int(cell3.left()) + 5, int(cell3.top()) + 30), requestColor(11).rgb());
    }

    void requestColoursAreStableDistinctAndClearOfTheStateColours() {
        QCOMPARE(requestColor(7), requestColor(7));
        for (qint64 id = 1; id <= 500; ++id) {
            const QColor c = requestColor(id);
            QVERIFY2(c.hsvHue() < 30 || c.hsvHue() >= 60, qPrintable(QString("id %1 hue %2").arg(id).arg(c.hsvHue())));
            QVERIFY(c.hsvSaturation() >= 150);
            const QColor next = requestColor(id + 1);
            const int dh = std::abs(c.hsvHue() - next.hsvHue());
            QVERIFY2(std::min(dh, 360 - dh) >= 40, qPrintable(QString("ids %1, %2 are too alike").arg(id).arg(id + 1)));
        }
    }

    void detailsNameTheStateOwnersHashAndTokens() {
        const InspectorScene scene(handMadeSnapshot());
        BlockTokens tokens;
        tokens.blockId = 0;
        tokens.step = 42;
        tokens.tokens = {1, 403, 407, 261};
        tokens.pieces = {"<s>", " Once", " upon", " a"};
        const QString html = blockDetailsHtml(scene, 0, &tokens);
        QVERIFY(html.contains("Block 0"));
        QVERIFY(html.contains("shared"));
        QVERIFY(html.contains("ref count 2"));
        QVERIFY(html.contains("request 10, sample 0 (sequence 1) → logical block #0"));
        QVERIFY(html.contains("request 11, sample 0 (sequence 2) → logical block #0"));
        QVERIFY(html.contains("0123456789abcdeffedcba9876543210"));
        QVERIFY(html.contains("&lt;s&gt;│ Once│ upon│ a"));
        QVERIFY(blockDetailsHtml(scene, 2, nullptr).contains("tokens: …"));
        QVERIFY(blockDetailsHtml(scene, 6, nullptr).contains("stale"));
        QCOMPARE(blockTooltip(scene, 0), QString("block 0 · shared ×2 · 4/4 · request 10"));
        QCOMPARE(blockTooltip(scene, 2), QString("block 2 · active · 3/4 · request 10"));
        QCOMPARE(blockTooltip(scene, 5), QString("block 5 · free"));
        const QString request = requestDetailsHtml(scene, 11);
        QVERIFY(request.contains("#0→0*  #1→1*  #2→3"));
        QVERIFY(request.contains("8 from the prefix cache"));
    }
};

}  // namespace inspector_scene_test

KVSCOPE_QTEST_MAIN(inspector_scene_test, InspectorSceneTest)
#include "inspector_scene_test.moc"
