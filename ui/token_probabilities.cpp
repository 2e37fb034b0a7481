#include "ui/token_probabilities.h"

#include <QStringList>
#include <algorithm>
#include <cmath>
#include <string>

#include "engine/unicode.h"

namespace kvscope::ui {
namespace {

constexpr int kMaxGroup = 4;  // a UTF-8 character has at most 4 bytes, so at most 4 byte tokens

double probabilityOf(float logprob) {
    return std::isfinite(logprob) ? std::exp(double(logprob)) : 0.0;
}

QString percent(double p) {
    if (p >= 0.001) return QStringLiteral("%1 %").arg(p * 100.0, 0, 'f', p >= 0.1 ? 1 : 2);
    return QStringLiteral("%1 %").arg(p * 100.0, 0, 'e', 1);
}

// Escaped text that keeps its line breaks inside the pre-wrap span.
QString htmlText(const std::string& bytes) {
    return QString::fromStdString(utf8_sanitize(bytes))
        .toHtmlEscaped()
        .replace(QLatin1Char('\n'), QStringLiteral("<br>"));
}

// Links read as plain text through kTokenLinkStyle; only what differs is inline (a long answer's
// layout time grows with the bytes of every token's markup).
QString groupSpan(const TokenLink& link, const QString& body, double p, bool special, bool heldBack) {
    QString style = QStringLiteral("background-color:") + probabilityColor(p).name();
    if (special || heldBack) style += QStringLiteral("; color:#777");
    if (heldBack) style += QStringLiteral("; text-decoration:line-through");
    if (special) style += QStringLiteral("; font-size:small");
    return QStringLiteral("<a href=\"%1\" style=\"%2\">%3</a>").arg(tokenLinkUrl(link).toString(), style, body);
}

}  // namespace

QUrl tokenLinkUrl(const TokenLink& link) {
    return QUrl(QStringLiteral("token:%1/%2/%3/%4").arg(link.turn).arg(link.sample).arg(link.first).arg(link.count));
}

std::optional<TokenLink> parseTokenLink(const QUrl& url) {
    if (url.scheme() != QStringLiteral("token")) return std::nullopt;
    const QStringList parts = url.path().split(QLatin1Char('/'));
    if (parts.size() != 4) return std::nullopt;
    int values[4];
    for (int i = 0; i < 4; ++i) {
        bool ok = false;
        values[i] = parts[i].toInt(&ok);
        if (!ok || values[i] < 0) return std::nullopt;
    }
    if (values[3] < 1) return std::nullopt;
    return TokenLink{values[0], values[1], values[2], values[3]};
}

QColor probabilityColor(double p) {
    p = std::clamp(std::isfinite(p) ? p : 0.0, 0.0, 1.0);
    return QColor::fromHsvF(float(p / 3.0), 0.38f, 1.0f);  // hue 0 (red) .. 120 degrees (green)
}

QString scoredTokensHtml(std::span<const SampleResult> tokens, const TokenVocabulary& vocabulary, int turn, int sample,
                         qsizetype textBytes) {
    QString out = QStringLiteral("<span style=\"white-space:pre-wrap\">");
    qsizetype offset = 0;  // bytes of text before the group, as the chat's text counts them
    std::size_t i = 0;
    while (i < tokens.size()) {
        const TokenLink link{turn, sample, int(i), 1};
        const std::int32_t id = tokens[i].token;
        if (vocabulary.isSpecial(id)) {
            out += groupSpan(link, QStringLiteral("⟨%1⟩").arg(vocabulary.label(id).toHtmlEscaped()),
                             probabilityOf(tokens[i].logprob), true, false);
            ++i;
            continue;
        }
        // The tokens that complete a character between them (usually just this one).
        std::string bytes = vocabulary.piece(id);
        double p = probabilityOf(tokens[i].logprob);
        std::size_t end = i + 1;
        while (!utf8_is_valid(bytes) && end < tokens.size() && int(end - i) < kMaxGroup &&
               !vocabulary.isSpecial(tokens[end].token)) {
            bytes += vocabulary.piece(tokens[end].token);
            p *= probabilityOf(tokens[end].logprob);
            ++end;
        }
        const bool heldBack = textBytes >= 0 && offset >= textBytes;
        out += groupSpan(TokenLink{turn, sample, int(i), int(end - i)},
                         bytes.empty() ? QStringLiteral("∅") : htmlText(bytes), p, false, heldBack);
        offset += qsizetype(utf8_sanitize(bytes).size());
        i = end;
    }
    return out + QStringLiteral("</span>");
}

QString tokenDetailsHtml(std::span<const SampleResult> group, const TokenVocabulary& vocabulary) {
    QString out;
    for (const SampleResult& r : group) {
        const double p = probabilityOf(r.logprob);
        // Rank 0: a server that gives no rank, the token not among the alternatives it sent.
        const QString rank = r.rank > 0 ? QString::number(r.rank) : QStringLiteral("> %1").arg(r.num_top_logprobs);
        out += QObject::tr("<p><b>%1</b> &nbsp;token %2 · probability %3 · log-prob %4 · rank %5</p>")
                   .arg(vocabulary.label(r.token).toHtmlEscaped())
                   .arg(r.token)
                   .arg(percent(p))
                   .arg(double(r.logprob), 0, 'f', 4)
                   .arg(rank.toHtmlEscaped());
        if (r.top().empty()) continue;
        out += QStringLiteral("<table cellspacing=\"0\" cellpadding=\"2\">");
        for (const TokenLogprob& t : r.top()) {
            const double q = probabilityOf(t.logprob);
            const int width = std::max(1, int(std::lround(q * 160.0)));
            const bool chosen = t.token == r.token;
            out += QStringLiteral(
                       "<tr><td>%1%2%3</td><td align=\"right\">%4</td><td><table cellspacing=\"0\" "
                       "cellpadding=\"0\"><tr><td width=\"%5\" height=\"8\" bgcolor=\"%6\"></td></tr></table>"
                       "</td></tr>")
                       .arg(chosen ? QStringLiteral("<b>") : QString(), vocabulary.label(t.token).toHtmlEscaped(),
                            chosen ? QStringLiteral("</b>") : QString(), percent(q))
                       .arg(width)
                       .arg(probabilityColor(q).darker(130).name());
        }
        out += QStringLiteral("</table>");
    }
    return out;
}

AnswerScore scoreAnswer(std::span<const SampleResult> tokens) {
    AnswerScore s;
    double sum = 0;
    s.minProbability = 1.0;
    for (const SampleResult& r : tokens) {
        if (!std::isfinite(r.logprob)) continue;
        ++s.numTokens;
        sum += double(r.logprob);
        s.minProbability = std::min(s.minProbability, std::exp(double(r.logprob)));
    }
    if (s.numTokens == 0) return AnswerScore{};
    s.meanLogprob = sum / s.numTokens;
    s.perplexity = std::exp(-s.meanLogprob);
    return s;
}

}  // namespace kvscope::ui
