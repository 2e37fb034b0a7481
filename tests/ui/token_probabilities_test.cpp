// The chat's token probabilities without an engine: tokens read as one piece of text (byte tokens
// of one character together), a stop string's tokens struck out, special tokens as tags, escaping,
// links that round-trip, colours by probability, an answer's perplexity against hand-computed
// values, the alternatives table, and a conversation that keeps each sample's logprobs.

#include <QRegularExpression>
#include <QTextDocument>
#include <QtTest>
#include <cmath>
#include <limits>

#include "tests/ui/qt_test_main.h"
#include "ui/conversation.h"
#include "ui/token_probabilities.h"
#include "ui/token_vocabulary.h"

namespace token_probabilities_test {

using namespace kvscope;
using namespace kvscope::ui;

// 0 "a", 1 " b", 2..4 the bytes of "€", 5 "</s>" (special), 6 "<b>", 7 "\n", 8 "x"
std::shared_ptr<const TokenVocabulary> vocabulary() {
    return std::make_shared<const TokenVocabulary>(
        std::vector<std::string>{"a", " b", "\xE2", "\x82", "\xAC", "</s>", "<b>", "\n", "x"},
        std::vector<bool>{false, false, false, false, false, true, false, false, false});
}

SampleResult scored(std::int32_t token, float logprob, std::vector<TokenLogprob> top = {}) {
    SampleResult r;
    r.token = token;
    r.logprob = logprob;
    r.rank = 1;
    for (const TokenLogprob& t : top) {
        if (t.token != token && t.logprob > logprob) ++r.rank;
        r.top_logprobs[std::size_t(r.num_top_logprobs++)] = t;
    }
    return r;
}

// The links of an answer's HTML, in order.
QStringList links(const QString& html) {
    QStringList out;
    static const QRegularExpression href(QStringLiteral("href=\"(token:[0-9/]+)\""));
    for (auto it = href.globalMatch(html); it.hasNext();) out << it.next().captured(1);
    return out;
}

QString plainText(const QString& html) {
    QTextDocument doc;
    doc.setHtml(html);
    return doc.toPlainText();
}

class TokenProbabilitiesTest : public QObject {
    Q_OBJECT

private slots:
    void labelsMakeWhitespaceAndStrayBytesVisible() {
        const auto v = vocabulary();
        QCOMPARE(v->label(1), QString("␣b"));
        QCOMPARE(v->label(7), QString("↵"));
        QCOMPARE(v->label(2), QString("<0xE2>"));
        QCOMPARE(v->label(5), QString("</s>"));
        QCOMPARE(v->label(42), QString("#42"));
        QVERIFY(v->isSpecial(5));
        QVERIFY(!v->isSpecial(0));
        QVERIFY(!v->isSpecial(-1));
        QVERIFY_THROWS_EXCEPTION(std::invalid_argument, TokenVocabulary({"a"}, {}));
    }

    void bytesOfOneCharacterReadAsOnePiece() {
        const auto v = vocabulary();
        const std::vector<SampleResult> tokens{scored(0, -0.1f), scored(2, -0.5f), scored(3, -0.2f), scored(4, -0.3f),
                                               scored(5, -1.0f)};
        const QString html = scoredTokensHtml(tokens, *v, 3, 1, -1);
        QCOMPARE(links(html), QStringList({"token:3/1/0/1", "token:3/1/1/3", "token:3/1/4/1"}));
        QCOMPARE(plainText(html), QString("a€⟨</s>⟩"));
        // The character's colour is its bytes' joint probability: exp(-1.0), as the EOS tag's.
        const QString joint = probabilityColor(std::exp(-1.0)).name();
        QCOMPARE(html.count(joint), 2);
        QVERIFY(html.contains(probabilityColor(std::exp(-0.1)).name()));
    }

    void aCharacterCutShortShowsAsAReplacement() {
        const auto v = vocabulary();
        const std::vector<SampleResult> tokens{scored(0, -0.1f), scored(2, -0.5f)};  // "a", then half of "€"
        const QString html = scoredTokensHtml(tokens, *v, 0, 0, -1);
        QCOMPARE(plainText(html), QString("a\uFFFD"));
        QCOMPARE(links(html).size(), 2);
        // A special token ends the group: the stray byte stays alone.
        const std::vector<SampleResult> cut{scored(2, -0.5f), scored(5, -0.1f)};
        QCOMPARE(links(scoredTokensHtml(cut, *v, 0, 0, -1)), QStringList({"token:0/0/0/1", "token:0/0/1/1"}));
    }

    void textIsEscapedAndLinesBreak() {
        const auto v = vocabulary();
        const std::vector<SampleResult> tokens{scored(6, -0.1f), scored(7, -0.1f), scored(8, -0.1f)};
        const QString html = scoredTokensHtml(tokens, *v, 0, 0, -1);
        QVERIFY(html.contains("&lt;b&gt;"));
        QVERIFY(!html.contains("<b>"));
        QCOMPARE(plainText(html), QString("<b>\nx"));
    }

    void tokensOfAStopStringAreStruckOut() {
        const auto v = vocabulary();
        // The answer's text is "a b" (3 bytes); "\n" and "x" were held back as a stop string.
        const std::vector<SampleResult> tokens{scored(0, -0.1f), scored(1, -0.1f), scored(7, -0.1f), scored(8, -0.1f)};
        const QString html = scoredTokensHtml(tokens, *v, 0, 0, 3);
        QCOMPARE(html.count("line-through"), 2);
        QVERIFY(html.indexOf("line-through") > html.indexOf("token:0/0/1/1"));
        QCOMPARE(scoredTokensHtml(tokens, *v, 0, 0, -1).count("line-through"), 0);
    }

    void linksRoundTripAndBadOnesAreRefused() {
        const TokenLink link{2, 1, 17, 3};
        const auto back = parseTokenLink(tokenLinkUrl(link));
        QVERIFY(back.has_value());
        QCOMPARE(back->turn, 2);
        QCOMPARE(back->sample, 1);
        QCOMPARE(back->first, 17);
        QCOMPARE(back->count, 3);
        for (const char* bad : {"token:1/2/3", "http://x/1/2/3/4", "token:1/2/-3/1", "token:1/2/3/0", "token:a/b/c/d"})
            QVERIFY2(!parseTokenLink(QUrl(QString::fromUtf8(bad))).has_value(), bad);
    }

    void coloursRunFromRedToGreen() {
        QCOMPARE(probabilityColor(0.0).hsvHue(), 0);
        QCOMPARE(probabilityColor(1.0).hsvHue(), 120);
        QCOMPARE(probabilityColor(std::nan("")).hsvHue(), 0);
        int last = -1;
        for (double p = 0.0; p <= 1.0; p += 0.05) {
            QVERIFY(probabilityColor(p).hsvHue() >= last);
            last = probabilityColor(p).hsvHue();
        }
    }

    void anAnswerScoresAsItsMeanLogprob() {
        const std::vector<SampleResult> tokens{scored(0, -0.1f), scored(1, -2.0f),
                                               scored(8, -std::numeric_limits<float>::infinity())};
        const AnswerScore s = scoreAnswer(tokens);
        QCOMPARE(s.numTokens, 2);
        QVERIFY(std::abs(s.meanLogprob - (-1.05)) < 1e-6);
        QVERIFY(std::abs(s.perplexity - std::exp(1.05)) < 1e-5);
        QVERIFY(std::abs(s.minProbability - std::exp(-2.0)) < 1e-7);
        QCOMPARE(scoreAnswer({}).numTokens, 0);
    }

    void detailsListTheAlternatives() {
        const auto v = vocabulary();
        const SampleResult r =
            scored(1, std::log(0.25f), {{0, std::log(0.5f)}, {1, std::log(0.25f)}, {8, std::log(0.125f)}});
        QCOMPARE(r.rank, 2);
        const QString html = tokenDetailsHtml(std::span(&r, 1), *v);
        const QString text = plainText(html);
        QVERIFY2(text.contains("␣b") && text.contains("probability 25.0 %") && text.contains("rank 2"),
                 qPrintable(text));
        QVERIFY(text.contains("50.0 %"));
        QVERIFY(text.contains("12.5 %"));
        QVERIFY(html.contains("<b>␣b</b>"));             // the chosen one among the alternatives
        QVERIFY(text.indexOf("a") < text.indexOf("x"));  // most likely first

        // A server's token that is not among the alternatives it sent: no rank was given.
        SampleResult unranked = scored(8, std::log(0.01f), {{0, std::log(0.5f)}, {1, std::log(0.25f)}});
        unranked.rank = 0;
        const QString unrankedText = plainText(tokenDetailsHtml(std::span(&unranked, 1), *v));
        QVERIFY2(unrankedText.contains("rank > 2"), qPrintable(unrankedText));
    }

    void aConversationKeepsEachSamplesLogprobs() {
        const auto v = vocabulary();
        Conversation c;
        c.addUser("hi");
        c.beginAssistant(2, "m", v);
        c.setRequestId(5);
        RequestOutput out;
        out.id = 5;
        SequenceOutput first{0, {0}, "a", {scored(0, -0.1f)}, FinishReason::none, {}, {}};
        SequenceOutput second{1, {8}, "x", {scored(8, -0.7f)}, FinishReason::none, {}, {}};
        out.samples = {first, second};
        QVERIFY(c.apply(out));
        out.samples = {SequenceOutput{0, {1}, " b", {scored(1, -0.2f)}, FinishReason::length, {}, {}}};
        QVERIFY(c.apply(out));
        const ChatTurn& turn = c.turns().back();
        QCOMPARE(int(turn.scores.size()), 2);
        QCOMPARE(int(turn.scores[0].size()), 2);
        QCOMPARE(turn.scores[0][1].token, 1);
        QCOMPARE(int(turn.scores[1].size()), 1);
        const QString html = c.html();
        QVERIFY(html.contains("token:1/0/1/1"));
        QVERIFY(html.contains("token:1/1/0/1"));

        // Without a vocabulary the turn keeps no scores and shows plain text.
        Conversation plain;
        plain.addUser("hi");
        plain.beginAssistant(1, "m");
        plain.setRequestId(6);
        out.id = 6;
        out.samples = {first};
        QVERIFY(plain.apply(out));
        QVERIFY(plain.turns().back().scores.empty());
        QVERIFY(!plain.html().contains("token:"));

        // Asked for, but no logprobs came (a server that sends none): the text still shows.
        Conversation silent;
        silent.addUser("hi");
        silent.beginAssistant(1, "m", v);
        silent.setRequestId(7);
        out.id = 7;
        out.samples = {SequenceOutput{0, {0}, "words", {}, FinishReason::stop, {}, {}}};
        out.finished = true;
        QVERIFY(silent.apply(out));
        QVERIFY(silent.html().contains("words"));
    }

    void theStatsLineGivesTheAnswersPerplexity() {
        Conversation c;
        c.addUser("hi");
        c.beginAssistant(1, "m", vocabulary());
        c.setRequestId(1);
        RequestOutput out;
        out.id = 1;
        SequenceOutput sample;
        sample.new_token_ids = {0, 1};
        sample.text_delta = "a b";
        sample.logprobs = {scored(0, -0.5f), scored(1, -1.5f)};
        sample.finish_reason = FinishReason::length;
        out.samples = {sample};
        out.finished = true;
        out.timings.num_generation_tokens = 2;
        QVERIFY(c.apply(out));
        // exp(1.0) = 2.72; the least likely token: exp(-1.5) = 22.3 %.
        QVERIFY2(c.html().contains("answer perplexity 2.72 · least likely token 22.3 %"), qPrintable(c.html()));
    }
};

}  // namespace token_probabilities_test

KVSCOPE_QTEST_MAIN(token_probabilities_test, TokenProbabilitiesTest)
#include "token_probabilities_test.moc"
