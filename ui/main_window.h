#pragma once
// The workbench's main window: the inspector in the middle, the other panels in docks (a
// registry other features add theirs to), menus, a status bar with the model, backend,
// throughput and KV usage, drag and drop of GGUF files, and the layout and settings remembered
// in QSettings. It holds no engine: everything goes through the Session.

#include <QHash>
#include <QMainWindow>

#include "ui/workbench_settings.h"

class QLabel;
class QProgressBar;

namespace kvscope::ui {

class BatchPanel;
class ChartsPanel;
class ChatPanel;
class InspectorPanel;
class LabPanel;
class LoraPanel;
class PerplexityPanel;
class Session;
struct ModelSummary;

class MainWindow final : public QMainWindow {
    Q_OBJECT

public:
    enum class Menu { File, View, Engine, Help };

    // Reads the remembered settings from `settings` (the default QSettings when null).
    explicit MainWindow(Session* session, QSettings* settings = nullptr, QWidget* parent = nullptr);
    ~MainWindow() override;

    // Dock registry: a panel in a dock named `id` (the key of its saved place), listed in View.
    QDockWidget* addPanel(const QString& id, const QString& title, QWidget* widget, Qt::DockWidgetArea area);
    QDockWidget* panel(const QString& id) const { return m_docks.value(id); }
    QMenu* menu(Menu which) const;
    // A permanent widget at the right of the status bar (e.g. a server's address).
    void addStatusWidget(QWidget* widget);

    ChatPanel* chat() const { return m_chat; }
    BatchPanel* batch() const { return m_batch; }
    InspectorPanel* inspector() const { return m_inspector; }
    ChartsPanel* charts() const { return m_charts; }
    LabPanel* lab() const { return m_lab; }
    LoraPanel* loras() const { return m_loras; }
    PerplexityPanel* perplexity() const { return m_perplexity; }
    const WorkbenchSettings& settings() const { return m_settings; }

    // Restores the dock layout saved by a previous run (after every panel is registered).
    void restoreLayout();
    // Cuts the window to its screen's available area and moves it into it, where it is larger or
    // outside (a geometry remembered on a larger screen).
    void keepOnScreen();

public slots:
    void openModel();
    void openModelFile(const QString& path);
    void openSettings();
    void exportJson();
    void exportCsv();
    void exportInspectorImage();
    void stopAll();

protected:
    void closeEvent(QCloseEvent* event) override;
    void dragEnterEvent(QDragEnterEvent* event) override;
    void dropEvent(QDropEvent* event) override;

private slots:
    void onLoadStarted(const QString& source);
    void onLoadProgress(double fraction, const QString& stage);
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    void onModelLoadFailed(const QString& message);
    void updateStatus();
    void updateEngineActions();

private:
    void createMenus();
    void createStatusBar();
    void rebuildRecentMenu();
    void saveSettings();
    void showAbout();
    void showModelLicense();
    void report(const QString& error, const QString& done);

    Session* m_session;
    QSettings* m_store;
    bool m_ownsStore = false;
    WorkbenchSettings m_settings;
    QHash<QString, QDockWidget*> m_docks;
    QHash<Menu, QMenu*> m_menus;
    QMenu* m_recent = nullptr;
    QAction* m_startAction = nullptr;
    QAction* m_pauseAction = nullptr;
    ChatPanel* m_chat = nullptr;
    BatchPanel* m_batch = nullptr;
    InspectorPanel* m_inspector = nullptr;
    ChartsPanel* m_charts = nullptr;
    LabPanel* m_lab = nullptr;
    LoraPanel* m_loras = nullptr;
    PerplexityPanel* m_perplexity = nullptr;
    QLabel* m_modelLabel = nullptr;
    QLabel* m_stateLabel = nullptr;
    QLabel* m_throughputLabel = nullptr;
    QLabel* m_kvLabel = nullptr;
    QProgressBar* m_loadBar = nullptr;
    QByteArray m_defaultLayout;
};

}  // namespace kvscope::ui
