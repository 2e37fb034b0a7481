#include "app/bridge/engine_worker.h"

#include <QMetaObject>
#include <QTimer>
#include <algorithm>

#include "app/bridge/engine_worker_serving.h"
#include "app/bridge/model_info.h"
#include "engine/error.h"
#include "engine/model.h"

namespace kvscope::app {
namespace {

// Bytes a full snapshot copied: what sets how often one is sent. Chunks of blocks shared with
// `previous` (nothing in them changed) cost nothing.
double fullSnapshotBytes(const EngineSnapshot& s, const EngineSnapshot* previous) {
    return double(snapshot_array_bytes(s) + s.kv.blocks.bytes_not_in(previous ? &previous->kv.blocks : nullptr));
}

}  // namespace

EngineWorker::EngineWorker(QObject* parent) : QObject(parent) {
    clock_.start();
}

EngineWorker::~EngineWorker() {
    if (serving_) shutDownServer(tr("the workbench is closing"));
}

void EngineWorker::registerMetaTypes() {
    qRegisterMetaType<kvscope::EngineConfig>();
    qRegisterMetaType<kvscope::Request>();
    qRegisterMetaType<kvscope::RequestOutput>();
    qRegisterMetaType<QVector<kvscope::RequestOutput>>();
    qRegisterMetaType<kvscope::ui::ModelSummary>();
    qRegisterMetaType<kvscope::ui::LoadRequest>();
    qRegisterMetaType<kvscope::ui::ChatRequest>();
    qRegisterMetaType<kvscope::ui::LoraLoadRequest>();
    qRegisterMetaType<kvscope::ui::LoraSummary>();
    qRegisterMetaType<kvscope::ui::BlockTokens>();
    qRegisterMetaType<kvscope::ui::ModelFileInfo>();
    qRegisterMetaType<kvscope::ui::ServeRequest>();
    qRegisterMetaType<kvscope::ui::AttachRequest>();
    qRegisterMetaType<kvscope::ui::PerplexityText>();
    qRegisterMetaType<kvscope::ui::PerplexityChunks>();
    qRegisterMetaType<std::shared_ptr<const kvscope::EngineSnapshot>>();
    qRegisterMetaType<kvscope::Trace>();
}

void EngineWorker::loadModel(const kvscope::ui::LoadRequest& request) {
    QElapsedTimer sinceReport;
    sinceReport.start();
    double lastFraction = -1;
    ModelLoadOptions options;
    options.weight_type = request.weightType;
    options.k_quant_medium = request.kQuantMedium;
    options.threads = request.config.num_threads;
    options.on_progress = [&](double fraction, const std::string& stage) {
        if (fraction < 1.0 && fraction - lastFraction < 0.01 && sinceReport.elapsed() < 100) return;
        lastFraction = fraction;
        sinceReport.restart();
        emit loadProgress(fraction * 0.95, QString::fromStdString(stage));
    };
    try {
        request.config.check();
        std::shared_ptr<const Model> model = Model::load(request.source.toStdString(), options);
        emit loadProgress(0.97, tr("allocating the KV cache"));
        auto engine = std::make_unique<Engine>(model, request.config);
        QStringList droppedLoras;
        std::vector<LoadedLora> loras = carryLoras(*engine, request.source, droppedLoras);
        // A server goes on serving the new engine: stopped here, started again below.
        std::optional<ui::ServeRequest> serve;
        if (serving_) {
            serve = servingRequest();
            shutDownServer(tr("the workbench loaded another model"));
        }
        abortAll();  // the old engine's requests end with it, and say so
        if (engine_) {
            std::vector<RequestOutput> last = engine_->step();
            emitOutputs(last);
        }
        engine_ = std::move(engine);
        lastFull_.reset();  // the old engine's blocks
        running_ = false;
        loras_ = std::move(loras);
        engine_->record_trace(kTraceCapacity);
        trace_.clear();
        model_ = std::move(model);
        source_ = request.source;
        emit modelLoaded(summary());
        for (const QString& message : droppedLoras) emit loraLoadFailed(message);
        publishSnapshot(Detail::Full);
        armIdleTick();
        if (serve) startServing(*serve);
    } catch (const kvscope::Error& e) {
        emit modelLoadFailed(QString::fromStdString(e.what()));
    } catch (const std::bad_alloc&) {
        emit modelLoadFailed(
            tr("%1: out of memory while loading; choose a smaller model or KV cache budget.").arg(request.source));
    }
    scheduleStep();
}

void EngineWorker::announce() {
    if (!engine_) return;
    emit modelLoaded(summary());
    emit pausedChanged(paused_);
    publishSnapshot(Detail::Full);
}

void EngineWorker::inspectModel(const QString& source) {
    emit modelInspected(readModelFileInfo(source));
}

void EngineWorker::accept(quint64 tag, Request request) {
    const RequestId id = engine_->add_request(std::move(request));
    emit requestAccepted(tag, id);
    scheduleStep();
}

void EngineWorker::submit(quint64 tag, const kvscope::Request& request) {
    if (!engine_) {
        emit requestRejected(tag, tr("No model is loaded."));
        return;
    }
    try {
        accept(tag, request);
    } catch (const kvscope::Error& e) {
        emit requestRejected(tag, QString::fromStdString(e.what()));
    }
}

void EngineWorker::submitChat(quint64 tag, const kvscope::ui::ChatRequest& chat) {
    if (!engine_) {
        emit requestRejected(tag, tr("No model is loaded."));
        return;
    }
    try {
        const Model& model = engine_->model();
        const ChatTemplate& tpl = model.chat_template();
        Request request;
        request.params = chat.params;
        request.priority = chat.priority;
        request.lora = chat.lora;
        request.prompt_token_ids = model.tokenizer().encode(tpl.apply(chat.messages, true), true, true);
        emit chatTokenized(tag, qint32(request.prompt_token_ids.size()));
        for (const std::string& stop : tpl.stop_strings()) {
            auto& list = request.params.stop;
            if (std::find(list.begin(), list.end(), stop) == list.end()) list.push_back(stop);
        }
        for (const std::int32_t id : tpl.stop_tokens(model.tokenizer())) {
            auto& list = request.params.stop_token_ids;
            if (std::find(list.begin(), list.end(), id) == list.end()) list.push_back(id);
        }
        accept(tag, std::move(request));
    } catch (const kvscope::Error& e) {
        emit requestRejected(tag, QString::fromStdString(e.what()));
    }
}

void EngineWorker::abortRequest(qint64 requestId) {
    if (engine_ && engine_->abort(requestId)) reportAborts();
}

void EngineWorker::abortAll() {
    if (!engine_) return;
    for (const RequestId id : engine_->request_ids()) engine_->abort(id);
    reportAborts();
}

void EngineWorker::reportAborts() {
    if (!paused_) {
        scheduleStep();  // the step reports them, with its own news
        return;
    }
    // Paused: no step runs, yet the aborted requests end now and their blocks are free now.
    std::vector<RequestOutput> outputs = engine_->take_aborted();
    route(outputs);
    publishSnapshot(Detail::Full);
}

void EngineWorker::setPaused(bool paused) {
    if (paused_ == paused) return;
    paused_ = paused;
    emit pausedChanged(paused_);
    publishSnapshot(Detail::Full);
    scheduleStep();
    if (paused_) armIdleTick();
}

void EngineWorker::resetPrefixCache() {
    if (!engine_) return;
    if (engine_->reset_prefix_cache()) {
        emit prefixCacheReset(true, tr("The prefix cache is empty: every cached block is free again."));
    } else {
        const EngineSnapshot s = engine_->snapshot(SnapshotDetail::CountersOnly);
        emit prefixCacheReset(false, tr("%1 blocks are held by running requests; stop them (Engine ▸ Stop) and reset "
                                        "the cache again.")
                                         .arg(s.kv.stats.num_used_blocks));
    }
    publishSnapshot(Detail::Full);
}

void EngineWorker::requestBlockTokens(qint32 blockId) {
    if (!engine_) return;
    ui::BlockTokens answer;
    answer.blockId = blockId;
    answer.step = engine_->snapshot(SnapshotDetail::CountersOnly).step;
    answer.tokens = engine_->block_tokens(blockId);
    const Tokenizer& tokenizer = engine_->model().tokenizer();
    for (const std::int32_t id : answer.tokens) {
        answer.pieces << QString::fromStdString(tokenizer.decode(std::span<const std::int32_t>(&id, 1), false));
    }
    emit blockTokensReady(answer);
}

void EngineWorker::requestTrace() {
    Trace trace;
    if (engine_) {
        for (TraceRequest& r : engine_->take_trace()) trace_.push_back(std::move(r));
        while (trace_.size() > kTraceCapacity) trace_.pop_front();
        const CachePlan& plan = engine_->cache_plan();
        const std::int32_t blockSize = engine_->config().block_size;
        trace.header.source = "kvscope workbench session";
        trace.header.model = engine_->model().config().name;
        trace.header.max_model_len = plan.max_model_len;
        trace.header.kv_bytes_per_token = std::int64_t(plan.block_bytes) / blockSize;
        trace.header.kv_cache_tokens = std::int64_t{plan.num_blocks} * blockSize;
        trace.requests.assign(trace_.begin(), trace_.end());
        // take_trace sorts each batch by arrival; batches taken at different times may interleave.
        std::stable_sort(trace.requests.begin(), trace.requests.end(),
                         [](const TraceRequest& a, const TraceRequest& b) { return a.arrival_s < b.arrival_s; });
        const double first = trace.requests.empty() ? 0.0 : trace.requests.front().arrival_s;
        for (TraceRequest& r : trace.requests) r.arrival_s -= first;
    }
    emit traceReady(trace);
}

void EngineWorker::scheduleStep() {
    if (stepQueued_) return;
    stepQueued_ = true;
    QMetaObject::invokeMethod(this, &EngineWorker::runStep, Qt::QueuedConnection);
}

void EngineWorker::emitOutputs(std::vector<RequestOutput>& outputs) {
    if (outputs.empty()) return;
    emit outputsReady(
        QVector<RequestOutput>(std::make_move_iterator(outputs.begin()), std::make_move_iterator(outputs.end())));
}

void EngineWorker::runStep() {
    stepQueued_ = false;
    if (!engine_ || paused_ || !engine_->has_work()) return;
    std::vector<RequestOutput> outputs = engine_->step();
    route(outputs);
    const bool more = engine_->has_work();
    publishSnapshot(!more ? Detail::Full : running_ ? Detail::Paced : Detail::Start);
    running_ = more;
    if (more) {
        scheduleStep();  // queued: commands waiting in the event loop go first
    } else {
        armIdleTick();
    }
}

void EngineWorker::armIdleTick() {
    if (idleTickArmed_) return;
    idleTickArmed_ = true;
    QTimer::singleShot(kIdleSnapshotMs, this, &EngineWorker::idleTick);
}

void EngineWorker::idleTick() {
    idleTickArmed_ = false;
    if (!engine_ || (engine_->has_work() && !paused_)) return;  // working: runStep publishes
    publishSnapshot(Detail::CountersOnly);
    armIdleTick();
}

void EngineWorker::publishSnapshot(Detail detail) {
    if (!engine_) return;
    const qint64 now = clock_.elapsed();
    if (detail == Detail::Paced && now - lastSnapshotMs_ < kSnapshotIntervalMs) return;
    const bool paced = detail == Detail::Paced || detail == Detail::Start;
    const bool full = detail == Detail::Full || (paced && now - lastFullMs_ >= fullIntervalMs_);
    auto snapshot = std::make_shared<const EngineSnapshot>(
        engine_->snapshot(full ? SnapshotDetail::Full : SnapshotDetail::CountersOnly, lastFull_.get()));
    lastSnapshotMs_ = now;
    if (full) {
        lastFullMs_ = now;
        const double bytes = fullSnapshotBytes(*snapshot, lastFull_.get());
        const auto budgetMs = qint64(bytes / kFullSnapshotBytesPerSecond * 1000.0);
        fullIntervalMs_ = std::max(kSnapshotIntervalMs, budgetMs);
        lastFull_ = snapshot;
    }
    emit snapshotReady(std::move(snapshot), double(now) / 1000.0);
}

}  // namespace kvscope::app
