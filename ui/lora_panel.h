#pragma once
// LoRA adapters: the ones loaded onto the model (name, rank, alpha, adapted matrices, file),
// "Load…" (a GGUF adapter file and the name requests pick it by, the file's stem unless changed),
// "Unload" (the selected one, once no request under it is left), and why the last load or unload
// failed or an adapter was dropped with the previous model. The file is read on the engine's
// thread; this panel only asks and shows.

#include <QWidget>

class QLabel;
class QPushButton;
class QTableWidget;

namespace kvscope::ui {

class Session;

class LoraPanel final : public QWidget {
    Q_OBJECT

public:
    explicit LoraPanel(Session* session, QWidget* parent = nullptr);

    QTableWidget* table() const { return m_table; }
    QPushButton* unloadButton() const { return m_unload; }
    // The last failure's message ("" after a successful load).
    QString errorText() const;

public slots:
    // Asks for a file, then for its name (the file's stem by default), and loads it.
    void chooseAndLoad();
    // Loads `path` as `name` (empty: the file's stem).
    void loadFile(const QString& path, const QString& name = QString());
    // Unloads the adapter `name` (the selected row's for the button).
    void unload(const QString& name);

private slots:
    void refresh();
    void updateButtons();
    void showError(const QString& message);

private:
    Session* m_session;
    QTableWidget* m_table = nullptr;
    QLabel* m_error = nullptr;
    QPushButton* m_load = nullptr;
    QPushButton* m_unload = nullptr;
};

}  // namespace kvscope::ui
