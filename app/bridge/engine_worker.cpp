#include "app/bridge/engine_worker.h"

#include <QMetaObject>

#include "engine/error.h"
#include "engine/model.h"

namespace kvscope::app {
namespace {

constexpr qint64 kSnapshotIntervalMs = 33;  // ~30 snapshots per second at most

}  // namespace

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) {
    sinceSnapshot_.start();
}

EngineWorker::~EngineWorker() = default;

void EngineWorker::registerMetaTypes() {
    qRegisterMetaType<kvscope::EngineConfig>();
    qRegisterMetaType<kvscope::Request>();
    qRegisterMetaType<kvscope::RequestOutput>();
    qRegisterMetaType<QVector<kvscope::RequestOutput>>();
    qRegisterMetaType<kvscope::ui::ModelSummary>();
    qRegisterMetaType<std::shared_ptr<const kvscope::EngineSnapshot>>();
}

void EngineWorker::loadModel(const QString& source, const kvscope::EngineConfig& config) {
    try {
        std::shared_ptr<const Model> model = Model::load(source.toStdString());
        auto engine = std::make_unique<Engine>(model, config);
        abortAll();  // the old engine's requests end with it, and say so
        if (engine_) {
            std::vector<RequestOutput> last = engine_->step();
            if (!last.empty()) emit outputsReady(QVector<RequestOutput>(last.begin(), last.end()));
        }
        engine_ = std::move(engine);
        ui::ModelSummary s;
        s.source = source;
        s.name = QString::fromStdString(model->config().name);
        s.architecture = QString::fromStdString(model->config().architecture_name);
        s.backend = QString::fromStdString(engine_->backend_name());
        s.numParams = model->config().num_params;
        s.numLayers = model->shape().num_layers;
        s.numBlocks = engine_->cache_plan().num_blocks;
        s.blockSize = config.block_size;
        s.contextLength = engine_->cache_plan().max_model_len;
        emit modelLoaded(s);
        publishSnapshot(true);
    } catch (const kvscope::Error& e) {
        emit modelLoadFailed(QString::fromStdString(e.what()));
    } catch (const std::bad_alloc&) {
        emit modelLoadFailed(tr("Out of memory while loading %1; choose a smaller model or KV cache.").arg(source));
    }
}

void EngineWorker::submit(quint64 tag, const kvscope::Request& request) {
    if (!engine_) {
        emit requestRejected(tag, tr("No model is loaded."));
        return;
    }
    try {
        const RequestId id = engine_->add_request(request);
        emit requestAccepted(tag, id);
        scheduleStep();
    } catch (const kvscope::Error& e) {
        emit requestRejected(tag, QString::fromStdString(e.what()));
    }
}

void EngineWorker::abortRequest(qint64 requestId) {
    if (engine_ && engine_->abort(requestId)) scheduleStep();
}

void EngineWorker::abortAll() {
    if (!engine_) return;
    for (const RequestId id : engine_->request_ids()) engine_->abort(id);
    scheduleStep();
}

void EngineWorker::scheduleStep() {
    if (stepQueued_) return;
    stepQueued_ = true;
    QMetaObject::invokeMethod(this, &EngineWorker::runStep, Qt::QueuedConnection);
}

void EngineWorker::runStep() {
    stepQueued_ = false;
    if (!engine_ || !engine_->has_work()) return;
    std::vector<RequestOutput> outputs = engine_->step();
    if (!outputs.empty()) {
        emit outputsReady(
            QVector<RequestOutput>(std::make_move_iterator(outputs.begin()), std::make_move_iterator(outputs.end())));
    }
    const bool more = engine_->has_work();
    publishSnapshot(!more);
    if (more) scheduleStep();  // queued: commands waiting in the event loop go first
}

void EngineWorker::publishSnapshot(bool force) {
    if (!engine_) return;
    if (!force && sinceSnapshot_.elapsed() < kSnapshotIntervalMs) return;
    sinceSnapshot_.restart();
    emit snapshotReady(std::make_shared<const EngineSnapshot>(engine_->snapshot()));
}

}  // namespace kvscope::app
