#pragma once
// The workbench's main window: menus, the generate panel and a status bar with the model,
// the backend, throughput and KV usage. It paints from the latest snapshot it was given.

#include <QElapsedTimer>
#include <QMainWindow>
#include <memory>

#include "engine/snapshot.h"
#include "ui/model_summary.h"

class QLabel;

namespace kvscope::ui {

class GeneratePanel;

class MainWindow final : public QMainWindow {
    Q_OBJECT

public:
    explicit MainWindow(QWidget* parent = nullptr);

    GeneratePanel* generatePanel() const { return m_generate; }

signals:
    void openModelRequested(const QString& path);

public slots:
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    void onModelLoadFailed(const QString& message);
    void onSnapshot(std::shared_ptr<const kvscope::EngineSnapshot> snapshot);

private:
    void createMenus();
    void openModel();
    void showAbout();
    void showModelLicense();

    GeneratePanel* m_generate = nullptr;
    QLabel* m_modelLabel = nullptr;
    QLabel* m_throughputLabel = nullptr;
    QLabel* m_kvLabel = nullptr;
    std::shared_ptr<const EngineSnapshot> m_snapshot;
    qint64 m_lastGenerated = 0;
    QElapsedTimer m_sinceThroughput;
};

}  // namespace kvscope::ui
