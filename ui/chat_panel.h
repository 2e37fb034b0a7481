#pragma once
// Chat: several conversations, each turn streamed as it comes, Stop, Regenerate, sampling
// controls. Every turn sends the whole conversation through the model's chat template (done on
// the engine's thread), so with prefix caching the earlier turns come back from cached blocks.

#include <QHash>
#include <QWidget>
#include <memory>
#include <vector>

#include "ui/conversation.h"
#include "ui/request_listener.h"
#include "ui/token_probabilities.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QLineEdit;
class QListWidget;
class QPlainTextEdit;
class QPushButton;
class QSplitter;
class QTextBrowser;
class QTimer;

namespace kvscope::ui {

class SamplingControls;
class Session;
struct ModelSummary;

class ChatPanel final : public QWidget, public RequestListener {
    Q_OBJECT

public:
    explicit ChatPanel(Session* session, QWidget* parent = nullptr);

    int conversationCount() const { return int(m_conversations.size()); }
    int currentConversation() const { return m_current; }
    const Conversation& conversation(int index) const { return m_conversations[std::size_t(index)]; }
    SamplingControls* samplingControls() const { return m_sampling; }
    // "base model" (data "") and each LoRA adapter loaded (data: its name): what the next turn runs with.
    QComboBox* loraCombo() const { return m_lora; }
    QString transcriptText() const;
    // "Token probabilities": the next turns ask for logprobs and show their tokens by probability.
    QCheckBox* probabilitiesBox() const { return m_probabilities; }
    // What the token details pane shows (the token last clicked), as plain text.
    QString tokenDetailsText() const;

    // RequestListener
    void requestAccepted(quint64 tag, qint64 requestId) override;
    void requestRejected(quint64 tag, const QString& message) override;
    void requestOutput(const RequestOutput& output) override;

public slots:
    void newConversation();
    void selectConversation(int index);
    // Sends `text` as the next user turn of the current conversation.
    void send(const QString& text);
    void stop();
    void regenerate();
    // Shows the alternatives of a token of the current conversation (a transcript link) in the
    // details pane; false when the link names no token.
    bool showTokenDetails(const QUrl& link);

private slots:
    void onModelLoaded(const kvscope::ui::ModelSummary& summary);
    void refreshLoras();

private:
    QWidget* buildConversationPane();
    void ask(int conversation);
    void refresh();
    // Brings the transcript to `turns` (Conversation::turnsHtml), laying out again only the
    // turns from the first that changed.
    void showTurns(const QStringList& turns);
    void refreshList();
    void updateButtons();
    // The alternatives of the tokens a transcript link names (tokenDetailsHtml); "" when it names none.
    QString tokenDetails(const QUrl& link) const;
    void hoverToken(const QUrl& link);
    void setDetailsShown(bool shown);

    Session* m_session;
    std::vector<Conversation> m_conversations;
    int m_current = -1;
    int m_numCreated = 0;
    QHash<quint64, int> m_byTag;
    QHash<qint64, int> m_byRequest;
    QString m_modelName;
    std::shared_ptr<const TokenVocabulary> m_vocabulary;  // the loaded model's; null when attached
    QListWidget* m_list = nullptr;
    QTextBrowser* m_transcript = nullptr;
    QStringList m_shownTurns;        // the HTML of each turn in the transcript now
    QVector<int> m_turnStarts;       // where each of them starts in its document
    QSplitter* m_reading = nullptr;  // the transcript above the token details
    QTextBrowser* m_tokenDetails = nullptr;
    QCheckBox* m_probabilities = nullptr;
    QPlainTextEdit* m_input = nullptr;
    QLineEdit* m_system = nullptr;
    QPushButton* m_send = nullptr;
    QPushButton* m_stop = nullptr;
    QPushButton* m_regenerate = nullptr;
    SamplingControls* m_sampling = nullptr;
    QLabel* m_templateLabel = nullptr;
    QComboBox* m_lora = nullptr;
    QWidget* m_loraRow = nullptr;  // shown while adapters are loaded
    QTimer* m_refresh = nullptr;
};

}  // namespace kvscope::ui
