#pragma once
// A prompt, sampling controls and a text panel that shows the prompt and the tokens streamed
// back for it. It emits requests and shows outputs; it never talks to the engine itself.

#include <QVector>
#include <QWidget>

#include "engine/request.h"

class QDoubleSpinBox;
class QLabel;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace kvscope::ui {

class GeneratePanel final : public QWidget {
    Q_OBJECT

public:
    explicit GeneratePanel(QWidget* parent = nullptr);

    QString outputText() const;
    bool isBusy() const { return m_busy; }
    void setPrompt(const QString& prompt);

signals:
    void generateRequested(const kvscope::Request& request);
    void stopRequested(qint64 requestId);

public slots:
    void setModelReady(bool ready);
    void onRequestAccepted(qint64 requestId);
    void onRequestRejected(const QString& message);
    void applyOutputs(const QVector<kvscope::RequestOutput>& outputs);

private:
    void generate();
    void finish(const QString& status);

    QPlainTextEdit* m_prompt = nullptr;
    QSpinBox* m_maxTokens = nullptr;
    QDoubleSpinBox* m_temperature = nullptr;
    QSpinBox* m_seed = nullptr;
    QPushButton* m_generate = nullptr;
    QPushButton* m_stop = nullptr;
    QPlainTextEdit* m_output = nullptr;
    QLabel* m_status = nullptr;
    bool m_ready = false;
    bool m_busy = false;
    qint64 m_requestId = -1;
    int m_numTokens = 0;
};

}  // namespace kvscope::ui
