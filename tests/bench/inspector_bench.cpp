// What a large KV cache costs the workbench's UI thread per full snapshot shown: deriving the
// inspector's scene, painting the grid image, and the grid widget's whole round (scene, image,
// paintEvent) rendered offscreen, at 1k to 256k blocks, in the grid's place in a 1280 x 800
// window (645 x 380 pixels). The snapshots come from the middle of a 400-request batch on the
// embedded model. Arg: the number of KV blocks. Needs no display: QT_QPA_PLATFORM=offscreen.

#include <benchmark/benchmark.h>

#include <QApplication>
#include <QImage>
#include <QPainter>
#include <map>
#include <memory>

#include "tests/bench/batch_engine.h"
#include "ui/inspector_renderer.h"
#include "ui/inspector_scene.h"
#include "ui/kv_grid_view.h"

namespace kvscope {
namespace {

const QSize kGridViewport(645, 380);

void ensureApplication() {
    static int argc = 1;
    static char name[] = "inspector_bench";
    static char* argv[] = {name, nullptr};
    if (QApplication::instance() != nullptr) return;
    if (qEnvironmentVariableIsEmpty("QT_QPA_PLATFORM")) qputenv("QT_QPA_PLATFORM", "offscreen");
    new QApplication(argc, argv);
}

// Two full snapshots of the same batch one step apart (a live inspector alternates between them).
std::pair<std::shared_ptr<const EngineSnapshot>, std::shared_ptr<const EngineSnapshot>> snapshots(
    std::int32_t numBlocks) {
    static std::map<std::int32_t,
                    std::pair<std::shared_ptr<const EngineSnapshot>, std::shared_ptr<const EngineSnapshot>>>
        cache;
    auto& s = cache[numBlocks];
    if (!s.first) {
        std::unique_ptr<Engine> engine = bench::engine_mid_batch(numBlocks);
        s.first = std::make_shared<const EngineSnapshot>(engine->snapshot(SnapshotDetail::Full));
        engine->step();
        s.second = std::make_shared<const EngineSnapshot>(engine->snapshot(SnapshotDetail::Full));
    }
    return s;
}

void BM_InspectorScene(benchmark::State& state) {
    const auto snapshot = snapshots(std::int32_t(state.range(0))).first;
    for (auto _ : state) benchmark::DoNotOptimize(ui::InspectorScene(snapshot));
}
BENCHMARK(BM_InspectorScene)->Arg(1024)->Arg(16384)->Arg(65536)->Arg(262144)->Unit(benchmark::kMillisecond);

void BM_InspectorGridImage(benchmark::State& state) {
    ensureApplication();
    const ui::InspectorScene scene(snapshots(std::int32_t(state.range(0))).first);
    ui::InspectorLayout layout;
    layout.setup(scene.numBlocks(), kGridViewport);
    for (auto _ : state) benchmark::DoNotOptimize(ui::renderGrid(scene, layout));
    state.counters["pitch"] = layout.pitch();
    state.counters["zoom"] = layout.zoom();
}
BENCHMARK(BM_InspectorGridImage)->Arg(1024)->Arg(16384)->Arg(65536)->Arg(262144)->Unit(benchmark::kMillisecond);

// The whole round for one new snapshot: setScene (scene given, image painted) and a paintEvent.
void BM_InspectorShowAndPaint(benchmark::State& state) {
    ensureApplication();
    const auto [a, b] = snapshots(std::int32_t(state.range(0)));
    ui::KvGridView view;
    view.resize(kGridViewport);
    QImage target(kGridViewport, QImage::Format_RGB32);
    bool flip = false;
    for (auto _ : state) {
        view.setScene(ui::InspectorScene(flip ? a : b));
        flip = !flip;
        view.render(&target);
    }
}
BENCHMARK(BM_InspectorShowAndPaint)->Arg(1024)->Arg(16384)->Arg(65536)->Arg(262144)->Unit(benchmark::kMillisecond);

// A view change alone (zoom, pan, highlight): one paintEvent of the fitted view.
void BM_InspectorPaint(benchmark::State& state) {
    ensureApplication();
    ui::KvGridView view;
    view.resize(kGridViewport);
    view.setScene(ui::InspectorScene(snapshots(std::int32_t(state.range(0))).first));
    QImage target(kGridViewport, QImage::Format_RGB32);
    for (auto _ : state) {
        view.fit();  // marks the view dirty
        view.render(&target);
    }
}
BENCHMARK(BM_InspectorPaint)->Arg(1024)->Arg(16384)->Arg(65536)->Arg(262144)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace kvscope
