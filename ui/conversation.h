#pragma once
// One chat conversation as a value: its turns, the request a new turn sends (the whole
// conversation again, so the prefix cache serves the earlier turns), streamed answers assembled
// per sample, and the transcript as rich text.

#include <QString>
#include <QStringList>
#include <memory>
#include <optional>
#include <vector>

#include "engine/request.h"
#include "ui/engine_messages.h"
#include "ui/token_vocabulary.h"

namespace kvscope::ui {

struct ChatTurn {
    enum class Role { User, Assistant };
    Role role = Role::User;
    QStringList samples;  // the text; an assistant turn has one per sample (n)
    QString model;        // an assistant turn: the name of the model that answered it
    qint64 requestId = -1;
    bool streaming = false;
    QString error;
    std::optional<RequestTimings> timings;  // when finished
    QString finishReason;
    // Token probabilities, when the turn asked for them: each sample's generated tokens with their
    // logprobs and alternatives, and the vocabulary that spells them (the model that made them).
    std::vector<std::vector<SampleResult>> scores;
    std::shared_ptr<const TokenVocabulary> vocabulary;

    QString text() const { return samples.value(0); }
    bool hasScores() const { return vocabulary != nullptr; }
};

class Conversation {
public:
    explicit Conversation(QString title = {}) : m_title(std::move(title)) {}

    const QString& title() const { return m_title; }
    const std::vector<ChatTurn>& turns() const { return m_turns; }
    bool busy() const { return !m_turns.empty() && m_turns.back().streaming; }
    bool canRegenerate() const;
    qint64 runningRequest() const { return busy() ? m_turns.back().requestId : -1; }

    void addUser(const QString& text);
    // The request for the next assistant turn: every finished turn (an assistant turn by its first
    // sample), system prompt first when set.
    ChatRequest request(const SamplingParams& params, const QString& systemPrompt = {}) const;
    // Starts the assistant turn that streams the answer to request() from the model named `model`
    // (the turn keeps that name whatever is loaded later). With a vocabulary, the turn keeps the
    // logprobs its outputs carry and shows its tokens by probability.
    void beginAssistant(int numSamples, QString model, std::shared_ptr<const TokenVocabulary> vocabulary = {});
    void setRequestId(qint64 id);
    // News of the running turn's request; false when it is not this conversation's.
    bool apply(const RequestOutput& output);
    // The running turn failed before it started (rejected): it ends with the message.
    void fail(const QString& message);
    // Regenerate: drops the last assistant turn so that request() asks for it again.
    void dropLastAssistant();

    // The turns as rich text, one table each, an answer under the name of the model that gave it;
    // an assistant turn with scores shows its tokens as links (token_probabilities.h) coloured by
    // probability.
    QStringList turnsHtml() const;
    QString html() const { return turnsHtml().join(QString()); }

private:
    QString m_title;
    std::vector<ChatTurn> m_turns;
};

}  // namespace kvscope::ui
