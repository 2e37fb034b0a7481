#include "ui/chat_panel.h"

#include <QCheckBox>
#include <QComboBox>
#include <QCursor>
#include <QElapsedTimer>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QScrollBar>
#include <QShortcut>
#include <QSplitter>
#include <QTextBrowser>
#include <QTextCursor>
#include <QTextDocument>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <algorithm>

#include "engine/chat_template.h"
#include "ui/adapter_combo.h"
#include "ui/sampling_controls.h"
#include "ui/session.h"

namespace kvscope::ui {
namespace {

// Chat turns wait ahead of batch requests (priority 0): someone is reading them.
constexpr std::int32_t kChatPriority = -1;
// Streamed text is redrawn at most this often (more seldom when redrawing takes long).
constexpr int kMinRefreshMs = 40;
// Alternatives asked for each generated token when token probabilities are on.
constexpr std::int32_t kTokenAlternatives = 5;

QString probabilitiesTip() {
    return QObject::tr(
               "Ask for each generated token's probability and its %1 likeliest alternatives, and colour the "
               "answer by them (red: the model thought the token unlikely; green: likely). Hover over a token "
               "for its alternatives, click it to keep them in view. These are the model's own probabilities, "
               "before temperature, penalties and top-k / top-p (vLLM's logprobs).")
        .arg(kTokenAlternatives);
}

}  // namespace

ChatPanel::ChatPanel(Session* session, QWidget* parent) : QWidget(parent), m_session(session) {
    m_list = new QListWidget(this);
    m_list->setObjectName("conversations");
    // The pane is narrow: long titles are elided (the whole one is the item's tooltip), not scrolled.
    m_list->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    m_list->setTextElideMode(Qt::ElideRight);
    auto* add = new QPushButton(tr("New"), this);
    add->setObjectName("newConversation");
    add->setToolTip(tr("Start another conversation (they share the engine and its prefix cache)"));
    auto* left = new QWidget(this);
    auto* leftLayout = new QVBoxLayout(left);
    leftLayout->setContentsMargins(0, 0, 0, 0);
    leftLayout->addWidget(m_list, 1);
    leftLayout->addWidget(add);

    QWidget* right = buildConversationPane();

    auto* splitter = new QSplitter(Qt::Horizontal, this);
    splitter->addWidget(left);
    splitter->addWidget(right);
    splitter->setStretchFactor(1, 1);
    splitter->setSizes({120, 400});
    auto* layout = new QVBoxLayout(this);
    layout->setContentsMargins(4, 4, 4, 4);
    layout->addWidget(splitter);

    m_refresh = new QTimer(this);
    m_refresh->setSingleShot(true);
    m_refresh->setInterval(kMinRefreshMs);  // streamed text is redrawn at most ~25 times a second
    connect(m_refresh, &QTimer::timeout, this, &ChatPanel::refresh);
    connect(add, &QPushButton::clicked, this, &ChatPanel::newConversation);
    connect(m_list, &QListWidget::currentRowChanged, this, &ChatPanel::selectConversation);
    connect(m_send, &QPushButton::clicked, this, [this] { send(m_input->toPlainText()); });
    connect(new QShortcut(QKeySequence(Qt::CTRL | Qt::Key_Return), m_input), &QShortcut::activated, m_send,
            &QPushButton::click);
    connect(m_stop, &QPushButton::clicked, this, &ChatPanel::stop);
    connect(m_regenerate, &QPushButton::clicked, this, &ChatPanel::regenerate);
    connect(m_transcript, &QTextBrowser::anchorClicked, this, &ChatPanel::showTokenDetails);
    connect(m_transcript, &QTextBrowser::highlighted, this, &ChatPanel::hoverToken);
    connect(m_probabilities, &QCheckBox::toggled, this, &ChatPanel::setDetailsShown);
    connect(session, &Session::modelLoaded, this, &ChatPanel::onModelLoaded);
    connect(session, &Session::modelLoadFailed, this, &ChatPanel::updateButtons);
    connect(session, &Session::lorasChanged, this, &ChatPanel::refreshLoras);
    refreshLoras();
    newConversation();
}

// The transcript, the input, the buttons and the sampling controls.
QWidget* ChatPanel::buildConversationPane() {
    m_transcript = new QTextBrowser(this);
    m_transcript->setObjectName("transcript");
    m_transcript->setOpenLinks(false);
    m_transcript->document()->setDefaultStyleSheet(QString::fromLatin1(kTokenLinkStyle));
    m_transcript->setPlaceholderText(tr("The conversation appears here, streamed token by token."));
    m_tokenDetails = new QTextBrowser(this);
    m_tokenDetails->setObjectName("tokenDetails");
    m_tokenDetails->setPlaceholderText(tr("Click a token of an answer to see the alternatives the model weighed."));
    m_tokenDetails->setVisible(false);
    m_tokenDetails->setMinimumHeight(60);
    m_tokenDetails->setMaximumHeight(400);
    m_probabilities = new QCheckBox(tr("Token &probabilities"), this);
    m_probabilities->setObjectName("tokenProbabilities");
    m_probabilities->setToolTip(probabilitiesTip());
    m_templateLabel = new QLabel(this);
    m_templateLabel->setObjectName("templateLabel");
    m_templateLabel->setWordWrap(true);
    m_templateLabel->setStyleSheet(QStringLiteral("color:#666"));
    m_system = new QLineEdit(this);
    m_system->setObjectName("systemPrompt");
    m_system->setPlaceholderText(tr("System prompt (optional)"));
    m_input = new QPlainTextEdit(this);
    m_input->setObjectName("chatInput");
    m_input->setPlaceholderText(tr("Write a message, or the start of a story… (Ctrl+Enter sends)"));
    m_input->setMaximumHeight(80);
    m_input->setTabChangesFocus(true);  // Tab leaves the box, as in a form (a message needs no tabs)
    m_send = new QPushButton(tr("Send"), this);
    m_send->setObjectName("send");
    m_send->setDefault(true);
    m_send->setToolTip(
        tr("Send the whole conversation again (the earlier turns are prefix-cache hits); chat turns "
           "are queued ahead of batch requests"));
    m_stop = new QPushButton(tr("Stop"), this);
    m_stop->setObjectName("stop");
    m_regenerate = new QPushButton(tr("Regenerate"), this);
    m_regenerate->setObjectName("regenerate");
    m_regenerate->setToolTip(tr("Ask again for the last answer (the conversation before it is a prefix-cache hit)"));
    m_lora = new QComboBox(this);
    m_lora->setObjectName("loraCombo");
    m_lora->setToolTip(tr("The LoRA adapter the next turn runs with (File ▸ Load LoRA Adapter…)"));
    m_lora->setSizeAdjustPolicy(QComboBox::AdjustToContents);
    m_loraRow = new QWidget(this);
    auto* loraLayout = new QHBoxLayout(m_loraRow);
    loraLayout->setContentsMargins(0, 0, 0, 0);
    loraLayout->addWidget(new QLabel(tr("Adapter:"), m_loraRow));
    loraLayout->addWidget(m_lora);
    loraLayout->addStretch(1);
    m_sampling = new SamplingControls(this);
    auto* samplingBox = new QGroupBox(tr("Sampling"), this);
    auto* samplingLayout = new QVBoxLayout(samplingBox);
    samplingLayout->setContentsMargins(6, 2, 6, 2);
    samplingLayout->addWidget(m_sampling);

    auto* buttons = new QHBoxLayout;
    buttons->addWidget(m_probabilities);
    buttons->addStretch(1);
    buttons->addWidget(m_regenerate);
    buttons->addWidget(m_stop);
    buttons->addWidget(m_send);
    auto* right = new QWidget(this);
    auto* rightLayout = new QVBoxLayout(right);
    rightLayout->setContentsMargins(0, 0, 0, 0);
    // The token details below the transcript, so that the transcript keeps the dock's width.
    m_reading = new QSplitter(Qt::Vertical, right);
    m_reading->addWidget(m_transcript);
    m_reading->addWidget(m_tokenDetails);
    m_reading->setStretchFactor(0, 1);
    m_reading->setStretchFactor(1, 0);
    m_reading->setChildrenCollapsible(false);
    rightLayout->addWidget(m_reading, 1);
    rightLayout->addWidget(m_system);
    rightLayout->addWidget(m_loraRow);
    rightLayout->addWidget(m_input);
    rightLayout->addWidget(m_templateLabel);
    rightLayout->addLayout(buttons);
    rightLayout->addWidget(samplingBox);
    return right;
}

QString ChatPanel::transcriptText() const {
    return m_transcript->toPlainText();
}

QString ChatPanel::tokenDetailsText() const {
    return m_tokenDetails->toPlainText();
}

void ChatPanel::onModelLoaded(const ModelSummary& summary) {
    m_modelName = summary.name;
    m_vocabulary = summary.vocabulary;
    m_probabilities->setEnabled(m_vocabulary != nullptr);
    m_probabilities->setToolTip(m_vocabulary ? probabilitiesTip()
                                             : tr("Token probabilities need the model's vocabulary to spell the "
                                                  "tokens with: the embedded engine and an attached kvscope server "
                                                  "give it; this %1 server does not, so its chat shows text only.")
                                                   .arg(summary.remoteKind));
    if (summary.chatTemplate == QStringLiteral("plain")) {
        m_templateLabel->setText(
            tr("%1 has no chat template: the turns are joined into one text that the model continues.")
                .arg(summary.name));
    } else if (summary.chatTemplate == QStringLiteral("unrecognised")) {
        m_templateLabel->setText(tr("%1's chat template is none that kvscope renders (%2): the turns are joined "
                                    "into one text that the model continues.")
                                     .arg(summary.name, QString::fromUtf8(kRenderedChatFamilies.data(),
                                                                          qsizetype(kRenderedChatFamilies.size()))));
    } else {
        m_templateLabel->setText(tr("Chat template: %1").arg(summary.chatTemplate));
    }
    updateButtons();
    refresh();
}

void ChatPanel::refreshLoras() {
    m_loraRow->setVisible(fillAdapterCombo(m_lora, m_session->loras()));
}

void ChatPanel::newConversation() {
    m_conversations.emplace_back(tr("Conversation %1").arg(++m_numCreated));
    refreshList();
    m_list->setCurrentRow(int(m_conversations.size()) - 1);
}

void ChatPanel::selectConversation(int index) {
    if (index < 0 || index >= conversationCount()) return;
    m_current = index;
    if (m_list->currentRow() != index) m_list->setCurrentRow(index);
    refresh();
    m_transcript->verticalScrollBar()->setValue(m_transcript->verticalScrollBar()->maximum());
}

void ChatPanel::send(const QString& text) {
    if (m_current < 0 || text.trimmed().isEmpty() || !m_session->modelReady()) return;
    Conversation& c = m_conversations[std::size_t(m_current)];
    if (c.busy()) return;
    c.addUser(text);
    m_input->clear();
    refreshList();
    ask(m_current);
}

void ChatPanel::ask(int index) {
    Conversation& c = m_conversations[std::size_t(index)];
    SamplingParams params = m_sampling->params();
    const bool scored = m_probabilities->isChecked() && m_vocabulary;
    if (scored) params.logprobs = kTokenAlternatives;
    ChatRequest request = c.request(params, m_system->text());
    request.priority = kChatPriority;
    request.lora = m_lora->currentData().toString().toStdString();
    c.beginAssistant(params.n, m_modelName, scored ? m_vocabulary : nullptr);
    const quint64 tag = m_session->submitChat(request, this, tr("chat %1").arg(index + 1));
    m_byTag.insert(tag, index);
    refresh();
    m_transcript->verticalScrollBar()->setValue(m_transcript->verticalScrollBar()->maximum());  // follow the new turn
}

void ChatPanel::stop() {
    if (m_current < 0) return;
    const qint64 id = m_conversations[std::size_t(m_current)].runningRequest();
    if (id >= 0) m_session->abort(id);
}

void ChatPanel::regenerate() {
    if (m_current < 0 || !m_session->modelReady()) return;
    Conversation& c = m_conversations[std::size_t(m_current)];
    if (!c.canRegenerate()) return;
    c.dropLastAssistant();
    ask(m_current);
}

QString ChatPanel::tokenDetails(const QUrl& url) const {
    const std::optional<TokenLink> link = parseTokenLink(url);
    if (!link || m_current < 0) return {};
    const auto& turns = m_conversations[std::size_t(m_current)].turns();
    if (link->turn >= int(turns.size())) return {};
    const ChatTurn& turn = turns[std::size_t(link->turn)];
    if (!turn.hasScores() || link->sample >= int(turn.scores.size())) return {};
    const auto& tokens = turn.scores[std::size_t(link->sample)];
    if (link->first >= int(tokens.size()) || link->count > int(tokens.size()) - link->first) return {};
    return tokenDetailsHtml(
        std::span<const SampleResult>(tokens).subspan(std::size_t(link->first), std::size_t(link->count)),
        *turn.vocabulary);
}

bool ChatPanel::showTokenDetails(const QUrl& url) {
    const QString details = tokenDetails(url);
    if (details.isEmpty()) return false;
    m_tokenDetails->setHtml(details);
    setDetailsShown(true);
    return true;
}

void ChatPanel::setDetailsShown(bool shown) {
    if (shown == m_tokenDetails->isVisible()) return;
    m_tokenDetails->setVisible(shown);
    if (!shown) return;
    // A token's alternatives need about 8 lines; the transcript keeps the rest (at least two
    // thirds). Once the splitter has taken the shown pane in: it lays its children out again then.
    QTimer::singleShot(0, this, [this] {
        const int total = m_reading->height();
        const int details = std::min(total / 3, 8 * fontMetrics().lineSpacing());
        m_reading->setSizes({total - details, details});
    });
}

void ChatPanel::hoverToken(const QUrl& url) {
    const QString details = tokenDetails(url);
    if (details.isEmpty()) {
        QToolTip::hideText();
    } else {
        QToolTip::showText(QCursor::pos(), details, m_transcript);
    }
}

void ChatPanel::requestAccepted(quint64 tag, qint64 requestId) {
    const int index = m_byTag.contains(tag) ? m_byTag.take(tag) : -1;
    if (index < 0 || index >= conversationCount()) return;
    m_conversations[std::size_t(index)].setRequestId(requestId);
    m_byRequest.insert(requestId, index);
    if (index == m_current) m_refresh->start();
    if (index == m_current) m_session->focusRequest(requestId);
}

void ChatPanel::requestRejected(quint64 tag, const QString& message) {
    const int index = m_byTag.contains(tag) ? m_byTag.take(tag) : -1;
    if (index < 0 || index >= conversationCount()) return;
    m_conversations[std::size_t(index)].fail(message);
    refresh();
}

void ChatPanel::requestOutput(const RequestOutput& output) {
    const int index = m_byRequest.value(output.id, -1);
    if (index < 0) return;
    m_conversations[std::size_t(index)].apply(output);
    if (output.finished) {
        m_byRequest.remove(output.id);
        refresh();
    } else if (index == m_current && !m_refresh->isActive()) {
        m_refresh->start();
    }
}

void ChatPanel::refresh() {
    updateButtons();
    if (m_current < 0) return;
    QScrollBar* bar = m_transcript->verticalScrollBar();
    const bool atBottom = bar->value() >= bar->maximum() - 4;
    const int keep = bar->value();
    QElapsedTimer timer;
    timer.start();
    showTurns(m_conversations[std::size_t(m_current)].turnsHtml());
    bar->setValue(atBottom ? bar->maximum() : keep);
    // A long streamed answer (most of all with token probabilities) takes a while to lay out:
    // stream it less often then, so that redrawing never takes more than about a third of the
    // UI's time.
    m_refresh->setInterval(std::clamp(int(timer.elapsed()) * 3, kMinRefreshMs, 500));
}

void ChatPanel::showTurns(const QStringList& turns) {
    // The turns shown already and unchanged stay as laid out; the rest is replaced. Streaming
    // then lays out the running turn alone, however long the conversation before it.
    qsizetype same = 0;
    while (same < turns.size() && same < m_shownTurns.size() && turns[same] == m_shownTurns[same]) ++same;
    if (same == turns.size() && same == m_shownTurns.size()) return;
    QTextCursor cursor(m_transcript->document());
    cursor.beginEditBlock();
    if (same == 0) {
        m_transcript->clear();
    } else if (same < m_shownTurns.size()) {
        cursor.setPosition(m_turnStarts[same]);
        cursor.movePosition(QTextCursor::End, QTextCursor::KeepAnchor);
        cursor.removeSelectedText();
    }
    m_shownTurns.resize(same);
    m_turnStarts.resize(same);
    for (qsizetype i = same; i < turns.size(); ++i) {
        cursor.movePosition(QTextCursor::End);
        m_turnStarts.push_back(cursor.position());
        cursor.insertHtml(turns[i]);
        m_shownTurns << turns[i];
    }
    cursor.endEditBlock();
}

void ChatPanel::refreshList() {
    for (int i = 0; i < conversationCount(); ++i) {
        const QString title = m_conversations[std::size_t(i)].title();
        if (i >= m_list->count()) m_list->addItem(QString());
        QListWidgetItem* item = m_list->item(i);
        if (item->text() != title) {
            item->setText(title);
            item->setToolTip(title);
        }
    }
}

void ChatPanel::updateButtons() {
    const bool ready = m_session->modelReady();
    const bool busy = m_current >= 0 && m_conversations[std::size_t(m_current)].busy();
    m_send->setEnabled(ready && !busy);
    m_stop->setEnabled(busy);
    m_regenerate->setEnabled(ready && m_current >= 0 && m_conversations[std::size_t(m_current)].canRegenerate());
}

}  // namespace kvscope::ui
