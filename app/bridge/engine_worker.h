#pragma once
// The bridge between the engine and the UI: a QObject that lives on its own QThread and owns the
// Engine. Commands come in as queued slot calls; results go out as queued signals that carry
// values (outputs, snapshots), so nothing in ui/ ever waits for the engine. Between two engine
// steps the thread's event loop runs, so commands (submit, abort, load) are taken promptly even
// while the engine runs flat out.

#include <QElapsedTimer>
#include <QObject>
#include <QString>
#include <QVector>
#include <memory>

#include "engine/config.h"
#include "engine/engine.h"
#include "engine/request.h"
#include "engine/snapshot.h"
#include "ui/model_summary.h"

namespace kvscope::app {

class EngineWorker final : public QObject {
    Q_OBJECT

public:
    explicit EngineWorker(QObject* parent = nullptr);
    ~EngineWorker() override;

    // Registers the value types carried by the queued signals (once, before connecting).
    static void registerMetaTypes();

public slots:
    // Loads a model and builds a new engine; the previous one keeps running if this fails.
    void loadModel(const QString& source, const kvscope::EngineConfig& config);
    // Queues a request; `tag` lets the caller match the answer (requestAccepted / requestRejected).
    void submit(quint64 tag, const kvscope::Request& request);
    void abortRequest(qint64 requestId);
    // Stops every request.
    void abortAll();

signals:
    void modelLoaded(const kvscope::ui::ModelSummary& summary);
    void modelLoadFailed(const QString& message);
    void requestAccepted(quint64 tag, qint64 requestId);
    void requestRejected(quint64 tag, const QString& message);
    void outputsReady(const QVector<kvscope::RequestOutput>& outputs);
    // At most ~30 per second while the engine works, and once when it goes idle.
    void snapshotReady(std::shared_ptr<const kvscope::EngineSnapshot> snapshot);

private slots:
    void runStep();

private:
    void scheduleStep();
    void publishSnapshot(bool force);

    std::unique_ptr<Engine> engine_;
    bool stepQueued_ = false;
    QElapsedTimer sinceSnapshot_;
};

}  // namespace kvscope::app

Q_DECLARE_METATYPE(kvscope::EngineConfig)
Q_DECLARE_METATYPE(kvscope::Request)
Q_DECLARE_METATYPE(kvscope::RequestOutput)
Q_DECLARE_METATYPE(std::shared_ptr<const kvscope::EngineSnapshot>)
