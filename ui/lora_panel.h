#pragma once
// LoRA adapters: the ones loaded onto the model (name, rank, alpha, adapted matrices, file),
// "Load…" (a GGUF adapter file and the name requests pick it by, the file's stem unless changed),
// and why the last load failed or an adapter was dropped with the previous model. The file is
// read on the engine's thread; this panel only asks and shows.

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
    // The last failure's message ("" after a successful load).
    QString errorText() const;

public slots:
    // Asks for a file, then for its name (the file's stem by default), and loads it.
    void chooseAndLoad();
    // Loads `path` as `name` (empty: the file's stem).
    void loadFile(const QString& path, const QString& name = QString());

private slots:
    void refresh();
    void showError(const QString& message);

private:
    Session* m_session;
    QTableWidget* m_table = nullptr;
    QLabel* m_error = nullptr;
    QPushButton* m_load = nullptr;
};

}  // namespace kvscope::ui
