// EngineWorker's "Serve" switch: app/server's HTTP server on the workbench's own engine.
//
// Shutdown order matters: the mailbox shuts first (handler threads waiting for state() get nullopt
// and nothing new comes in), then the HTTP server stops (it joins its handler threads, which no
// longer wait on this thread), then the router aborts what the engine still runs for HTTP clients.

#include <QMetaObject>

#include "app/bridge/engine_worker_serving.h"
#include "engine/error.h"

namespace kvscope::app {

ui::ServeRequest EngineWorker::servingRequest() const {
    return serving_ ? serving_->request : ui::ServeRequest{};
}

void EngineWorker::startServing(const kvscope::ui::ServeRequest& request) {
    if (serving_) shutDownServer(tr("restarting"));
    if (!engine_ || !model_) {
        emit servingChanged(false, QString(), tr("No model is loaded: load one, then serve it."));
        return;
    }
    // The adapters are served under their names ("model": NAME); loading or unloading one in the
    // LoRA panel updates the running server (updateServedLoras).
    server::ServingInfo info{model_, engine_->config(), engine_->cache_plan(), engine_->backend_name(), servedLoras()};
    // From handler threads, which all end (shutDownServer) before this worker does: the queued
    // call runs on the worker's thread.
    auto wake = [this] { QMetaObject::invokeMethod(this, &EngineWorker::serveInbox, Qt::QueuedConnection); };
    auto serving =
        std::unique_ptr<Serving>(new Serving{request, std::make_unique<WorkerHost>(std::move(info), wake),
                                             server::StreamRouter(engine_->cache_plan().max_model_len), nullptr});
    server::ServerOptions options;
    options.host = request.host.toStdString();
    options.port = request.port;
    options.api_key = request.apiKey.toStdString();
    try {
        serving->http = std::make_unique<server::HttpServer>(*serving->host, options);
        serving->http->start();
    } catch (const kvscope::Error& e) {
        serving->host->shutdown("the server could not start");
        serving->http.reset();
        emit servingChanged(false, QString(), QString::fromStdString(e.what()));
        return;
    }
    const QString address = QStringLiteral("http://%1:%2").arg(request.host).arg(serving->http->port());
    serving_ = std::move(serving);
    emit servingChanged(true, address, QString());
}

std::vector<server::ServedLora> EngineWorker::servedLoras() const {
    std::vector<server::ServedLora> loras;
    for (const LoadedLora& l : loras_) loras.push_back({l.name.toStdString(), l.path.toStdString()});
    return loras;
}

void EngineWorker::updateServedLoras() {
    if (serving_) serving_->host->set_loras(servedLoras());
}

void EngineWorker::stopServing() {
    if (!serving_) return;
    shutDownServer(tr("the workbench stopped serving"));
    emit servingChanged(false, QString(), tr("Stopped serving."));
}

void EngineWorker::shutDownServer(const QString& message) {
    const std::string why = message.toStdString();
    serving_->host->shutdown(why);
    serving_->http->stop();
    if (engine_) serving_->router.close_all(*engine_, why);  // aborted: blocks freed
    serving_.reset();
    scheduleStep();  // the abort notices come out of the next step
}

void EngineWorker::serveInbox() {
    if (!serving_ || !engine_) return;
    WorkerHost::Inbox inbox = serving_->host->take();
    server::StreamRouter& router = serving_->router;
    for (const auto& stream : inbox.submitted) {
        const QString label = QString::fromStdString(stream->label());
        const std::vector<server::AcceptedRequest> added = router.accept(*engine_, stream);
        for (std::size_t i = 0; i < added.size(); ++i) {
            const QString source = added.size() > 1 ? QStringLiteral("%1-%2").arg(label).arg(i) : label;
            emit externalRequestAccepted(added[i].id, QStringLiteral("http ") + source, added[i].num_prompt_tokens,
                                         added[i].n);
        }
    }
    for (const auto& stream : inbox.cancelled) router.cancel(*engine_, stream);
    for (const auto& query : inbox.queries) query->set_value(router.state(*engine_));
    if (!inbox.submitted.empty() || !inbox.cancelled.empty()) scheduleStep();
}

void EngineWorker::route(std::vector<RequestOutput>& outputs) {
    if (serving_ && !outputs.empty()) {
        std::vector<RequestOutput> copy = outputs;  // the UI sees HTTP requests' outputs too
        emitOutputs(copy);
        serving_->router.route(std::move(outputs));
        return;
    }
    emitOutputs(outputs);
}

}  // namespace kvscope::app
