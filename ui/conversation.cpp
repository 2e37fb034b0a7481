#include "ui/conversation.h"

#include <QObject>
#include <algorithm>
#include <cmath>

#include "ui/token_probabilities.h"

namespace kvscope::ui {

bool Conversation::canRegenerate() const {
    return !m_turns.empty() && m_turns.back().role == ChatTurn::Role::Assistant && !m_turns.back().streaming;
}

void Conversation::addUser(const QString& text) {
    if (m_title.isEmpty() || m_title.startsWith(QObject::tr("Conversation"))) {
        m_title = text.simplified().left(32);
        if (text.simplified().size() > 32) m_title += QStringLiteral("…");
    }
    ChatTurn turn;
    turn.role = ChatTurn::Role::User;
    turn.samples = QStringList{text};
    m_turns.push_back(turn);
}

ChatRequest Conversation::request(const SamplingParams& params, const QString& systemPrompt) const {
    ChatRequest r;
    r.params = params;
    if (!systemPrompt.isEmpty()) r.messages.push_back(ChatMessage{"system", systemPrompt.toStdString()});
    for (const ChatTurn& t : m_turns) {
        if (t.streaming || (t.role == ChatTurn::Role::Assistant && !t.error.isEmpty() && t.text().isEmpty())) continue;
        r.messages.push_back(
            ChatMessage{t.role == ChatTurn::Role::User ? "user" : "assistant", t.text().toStdString()});
    }
    return r;
}

void Conversation::beginAssistant(int numSamples, QString model, std::shared_ptr<const TokenVocabulary> vocabulary) {
    ChatTurn turn;
    turn.role = ChatTurn::Role::Assistant;
    turn.model = std::move(model);
    turn.streaming = true;
    for (int i = 0; i < std::max(1, numSamples); ++i) turn.samples << QString();
    if (vocabulary) turn.scores.resize(std::size_t(turn.samples.size()));
    turn.vocabulary = std::move(vocabulary);
    m_turns.push_back(turn);
}

void Conversation::setRequestId(qint64 id) {
    if (busy()) m_turns.back().requestId = id;
}

bool Conversation::apply(const RequestOutput& out) {
    if (!busy() || m_turns.back().requestId != out.id) return false;
    ChatTurn& turn = m_turns.back();
    for (const SequenceOutput& s : out.samples) {
        if (s.index >= turn.samples.size()) continue;
        turn.samples[s.index] += QString::fromStdString(s.text_delta);
        if (turn.hasScores()) {
            auto& scores = turn.scores[std::size_t(s.index)];
            scores.insert(scores.end(), s.logprobs.begin(), s.logprobs.end());
        }
        if (s.finished() && turn.finishReason.isEmpty())
            turn.finishReason = QString::fromUtf8(finish_reason_name(s.finish_reason).data());
    }
    if (!out.error.empty()) turn.error = QString::fromStdString(out.error);  // the engine ended it
    if (out.finished) {
        turn.streaming = false;
        turn.timings = out.timings;
    }
    return true;
}

void Conversation::fail(const QString& message) {
    if (!busy()) return;
    m_turns.back().streaming = false;
    m_turns.back().error = message;
}

void Conversation::dropLastAssistant() {
    if (canRegenerate()) m_turns.pop_back();
}

namespace {

// " · answer perplexity 1.83 · least likely token 4.2 %" over every sample's tokens.
QString scoreLine(const ChatTurn& t) {
    int numTokens = 0;
    double logprobSum = 0, minProbability = 1;
    for (const auto& sample : t.scores) {
        const AnswerScore s = scoreAnswer(sample);
        if (s.numTokens == 0) continue;
        numTokens += s.numTokens;
        logprobSum += s.meanLogprob * s.numTokens;
        minProbability = std::min(minProbability, s.minProbability);
    }
    if (numTokens == 0) return {};
    return QObject::tr(" · answer perplexity %1 · least likely token %2 %")
        .arg(std::exp(-logprobSum / numTokens), 0, 'f', 2)
        .arg(minProbability * 100.0, 0, 'g', 3);
}

QString statsLine(const ChatTurn& t) {
    if (!t.error.isEmpty()) return QObject::tr("rejected: %1").arg(t.error.toHtmlEscaped());
    if (t.streaming)
        return t.requestId >= 0 ? QObject::tr("request %1 · generating…").arg(t.requestId)
                                : QObject::tr("waiting for the engine…");
    if (!t.timings) return {};
    const RequestTimings& r = *t.timings;
    const int perSample = t.samples.size() > 0 ? r.num_generation_tokens / int(t.samples.size()) : 0;
    const double tps = r.decode_time > 0 && perSample > 1 ? double(perSample - 1) / r.decode_time : 0.0;
    return QObject::tr(
               "request %1 · %2 tokens · prompt %3 tokens, %4 from the prefix cache · first token after %5 ms · "
               "%6 tokens/s · %7%8")
        .arg(t.requestId)
        .arg(r.num_generation_tokens)
        .arg(r.num_prompt_tokens)
        .arg(r.num_cached_tokens)
        .arg(r.time_to_first_token * 1000.0, 0, 'f', 1)
        .arg(tps, 0, 'f', 0)
        .arg(t.finishReason)
        .arg(scoreLine(t));
}

QString paragraphs(const QString& text) {
    return text.toHtmlEscaped().replace(QLatin1Char('\n'), QStringLiteral("<br>"));
}

// One sample's text: its tokens by probability when the turn has them.
QString sampleHtml(const ChatTurn& t, int turn, int sample) {
    const auto& scores = t.scores;
    if (!t.hasScores() || (scores[std::size_t(sample)].empty() && !t.samples[sample].isEmpty()))
        return paragraphs(t.samples[sample]);  // a server that sent no logprobs
    // While streaming, text the stop checker still holds back is not in the sample yet.
    const qsizetype textBytes = t.streaming ? -1 : t.samples[sample].toUtf8().size();
    return scoredTokensHtml(scores[std::size_t(sample)], *t.vocabulary, turn, sample, textBytes);
}

QString speaker(const ChatTurn& t) {
    return t.model.isEmpty() ? QObject::tr("Model") : t.model;
}

}  // namespace

QStringList Conversation::turnsHtml() const {
    QStringList out;
    for (std::size_t index = 0; index < m_turns.size(); ++index) {
        const ChatTurn& t = m_turns[index];
        const bool user = t.role == ChatTurn::Role::User;
        QString body;
        const bool noText =
            std::all_of(t.samples.begin(), t.samples.end(), [](const QString& s) { return s.isEmpty(); });
        if (!t.error.isEmpty() && noText) {
            // Rejected before any text: the reason is on the turn's line; no sample to show.
        } else if (t.samples.size() > 1) {
            for (int i = 0; i < t.samples.size(); ++i)
                body += QObject::tr("<p><b>sample %1</b><br>%2</p>").arg(i + 1).arg(sampleHtml(t, int(index), i));
        } else {
            body = sampleHtml(t, int(index), 0);
            if (t.streaming) body += QStringLiteral("▍");
        }
        out << QStringLiteral(
                   "<table width=\"100%\" cellpadding=\"8\" style=\"margin-bottom:6px\"><tr><td bgcolor=\"%1\">"
                   "<b>%2</b>%3<br>%4</td></tr></table>")
                   .arg(
                       user ? QStringLiteral("#e3f0ff") : QStringLiteral("#f3f3f3"),
                       user ? QObject::tr("You") : speaker(t).toHtmlEscaped(),
                       user
                           ? QString()
                           : QStringLiteral(" <span style=\"color:#777; font-size:small\">%1</span>").arg(statsLine(t)),
                       body);
    }
    return out;
}

}  // namespace kvscope::ui
