// Chat without an engine: what a conversation sends (every earlier turn again, so the prefix
// cache can serve them), how streamed outputs assemble per sample, regenerate, rejection, and the
// chat panel's buttons through a turn's life.

#include <QCheckBox>
#include <QLabel>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QTextBlock>
#include <QTextBrowser>
#include <QTextDocument>
#include <QtTest>

#include "tests/ui/qt_test_main.h"
#include "ui/chat_panel.h"
#include "ui/conversation.h"
#include "ui/request_log.h"
#include "ui/sampling_controls.h"
#include "ui/session.h"

namespace chat_test {

using namespace kvscope;
using namespace kvscope::ui;

RequestOutput delta(qint64 id, int index, const std::string& text, FinishReason reason = FinishReason::none) {
    RequestOutput out;
    out.id = id;
    SequenceOutput s;
    s.index = index;
    s.new_token_ids = {1};
    s.text_delta = text;
    s.finish_reason = reason;
    out.samples.push_back(s);
    out.finished = reason != FinishReason::none;
    return out;
}

ModelSummary loadedModel() {
    ModelSummary m;
    m.name = "stories260K";
    m.chatTemplate = "plain";
    return m;
}

class ChatTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() {
        qRegisterMetaType<kvscope::ui::ChatRequest>();
        qRegisterMetaType<kvscope::ui::ModelSummary>();
    }

    void eachTurnSendsTheWholeConversation() {
        Conversation c;
        c.addUser("Hello");
        SamplingParams p;
        p.max_tokens = 9;
        ChatRequest first = c.request(p);
        QCOMPARE(int(first.messages.size()), 1);
        QCOMPARE(first.params.max_tokens, 9);
        c.beginAssistant(1, "m");
        c.setRequestId(3);
        QVERIFY(c.busy());
        QVERIFY(c.apply(delta(3, 0, "Hi")));
        QVERIFY(!c.apply(delta(4, 0, "not mine")));
        QVERIFY(c.apply(delta(3, 0, " there", FinishReason::stop)));
        QVERIFY(!c.busy());
        c.addUser("How are you?");
        const ChatRequest second = c.request(p, "Be brief.");
        QCOMPARE(int(second.messages.size()), 4);
        QCOMPARE(second.messages[0].role, std::string("system"));
        QCOMPARE(second.messages[2].role, std::string("assistant"));
        QCOMPARE(second.messages[2].content, std::string("Hi there"));
        QCOMPARE(second.messages[3].content, std::string("How are you?"));
        QCOMPARE(c.title(), QString("Hello"));
    }

    void samplesStreamSeparatelyAndRegenerateAsksAgain() {
        Conversation c;
        c.addUser("Once");
        c.beginAssistant(2, "m");
        c.setRequestId(8);
        c.apply(delta(8, 1, " upon"));
        c.apply(delta(8, 0, " there"));
        RequestOutput last = delta(8, 0, " was", FinishReason::length);
        last.samples.push_back(SequenceOutput{1, {2}, " a", {}, FinishReason::length, {}, {}});
        last.timings.num_generation_tokens = 4;
        c.apply(last);
        QCOMPARE(c.turns().back().samples, (QStringList{" there was", " upon a"}));
        QVERIFY(c.html().contains("sample 2"));
        QVERIFY(c.canRegenerate());
        c.dropLastAssistant();
        QCOMPARE(int(c.turns().size()), 1);
        QCOMPARE(int(c.request(SamplingParams{}).messages.size()), 1);
    }

    void aRejectedTurnEndsWithItsReason() {
        Conversation c;
        c.addUser("x");
        c.beginAssistant(1, "m");
        c.fail("the prompt is too long");
        QVERIFY(!c.busy());
        QVERIFY(c.html().contains("rejected: the prompt is too long"));
        QCOMPARE(int(c.request(SamplingParams{}).messages.size()), 1);  // the failed turn is not sent
    }

    // A turn of several samples rejected before any text says why once, with no empty samples;
    // one that failed part way keeps the samples it had.
    void aRejectedTurnOfSeveralSamplesShowsTheReasonOnly() {
        Conversation c;
        c.addUser("x");
        c.beginAssistant(4, "m");
        c.fail("the prompt is too long");
        QTextDocument shown;
        shown.setHtml(c.html());
        const QString text = shown.toPlainText();
        QCOMPARE(text.count("rejected: the prompt is too long"), 1);
        QVERIFY2(!text.contains("sample"), qPrintable(text));

        Conversation partial;
        partial.addUser("x");
        partial.beginAssistant(2, "m");
        partial.setRequestId(5);
        partial.apply(delta(5, 0, "Once"));
        RequestOutput failed = delta(5, 1, "Upon", FinishReason::abort);
        failed.error = "the model failed";
        partial.apply(failed);
        shown.setHtml(partial.html());
        QVERIFY(shown.toPlainText().contains("sample 1"));
        QVERIFY(shown.toPlainText().contains("Upon"));
        QCOMPARE(shown.toPlainText().count("the model failed"), 1);
    }

    void thePanelSendsStreamsStopsAndRegenerates() {
        Session session;
        ChatPanel panel(&session);
        QSignalSpy chats(&session, &Session::submitChatCommand);
        QSignalSpy aborts(&session, &Session::abortCommand);
        auto* send = panel.findChild<QPushButton*>("send");
        auto* stop = panel.findChild<QPushButton*>("stop");
        auto* regenerate = panel.findChild<QPushButton*>("regenerate");
        QVERIFY(!send->isEnabled());  // no model yet
        session.onModelLoaded(loadedModel());
        QVERIFY(send->isEnabled());
        panel.samplingControls()->findChild<QSpinBox*>("maxTokens")->setValue(7);
        panel.send("Once upon a time");
        QCOMPARE(chats.count(), 1);
        const auto request = chats.at(0).at(1).value<ChatRequest>();
        QCOMPARE(request.messages.back().content, std::string("Once upon a time"));
        QCOMPARE(request.params.max_tokens, 7);
        QCOMPARE(request.priority, -1);  // ahead of batch requests
        QVERIFY(!send->isEnabled());
        QVERIFY(stop->isEnabled());
        session.onRequestAccepted(chats.at(0).at(0).toULongLong(), 21);
        session.onOutputs({delta(21, 0, ", there")});
        QTRY_VERIFY(panel.transcriptText().contains("Once upon a time"));
        QTRY_VERIFY(panel.transcriptText().contains(", there"));
        QTest::mouseClick(stop, Qt::LeftButton);
        QCOMPARE(aborts.count(), 1);
        QCOMPARE(aborts.at(0).at(0).toLongLong(), 21);
        session.onOutputs({delta(21, 0, "", FinishReason::abort)});
        QVERIFY(send->isEnabled());
        QVERIFY(regenerate->isEnabled());
        QTest::mouseClick(regenerate, Qt::LeftButton);
        QCOMPARE(chats.count(), 2);
        QCOMPARE(int(chats.at(1).at(1).value<ChatRequest>().messages.size()), 1);  // the answer is asked again
        QCOMPARE(session.requestLog()->records()[0].source, QString("chat 1"));
    }

    void conversationsAreIndependent() {
        Session session;
        ChatPanel panel(&session);
        session.onModelLoaded(loadedModel());
        QSignalSpy chats(&session, &Session::submitChatCommand);
        panel.send("first");
        session.onRequestAccepted(chats.at(0).at(0).toULongLong(), 1);
        panel.newConversation();
        QCOMPARE(panel.conversationCount(), 2);
        QCOMPARE(panel.currentConversation(), 1);
        auto* list = panel.findChild<QListWidget*>("conversations");
        QCOMPARE(list->count(), 2);
        QCOMPARE(list->item(0)->text(), QString("first"));  // titled by its first message
        QCOMPARE(list->item(0)->toolTip(), QString("first"));
        QCOMPARE(list->item(1)->toolTip(), QString("Conversation 2"));
        panel.send("second");  // the first conversation is still busy; this one is not
        QCOMPARE(chats.count(), 2);
        QCOMPARE(int(chats.at(1).at(1).value<ChatRequest>().messages.size()), 1);
        session.onOutputs({delta(1, 0, " answer", FinishReason::stop)});
        QCOMPARE(panel.conversation(0).turns().back().text(), QString(" answer"));
        QVERIFY(panel.conversation(1).busy());
    }

    void tokenProbabilitiesAreAskedForShownAndExplained() {
        Session session;
        ChatPanel panel(&session);
        QSignalSpy chats(&session, &Session::submitChatCommand);
        ModelSummary model = loadedModel();
        session.onModelLoaded(model);
        QVERIFY(!panel.probabilitiesBox()->isEnabled());  // no vocabulary: an attached server
        model.vocabulary = std::make_shared<const TokenVocabulary>(std::vector<std::string>{",", " there", " was"},
                                                                   std::vector<bool>{false, false, false});
        session.onModelLoaded(model);
        QVERIFY(panel.probabilitiesBox()->isEnabled());

        panel.send("plain");  // off: no logprobs asked
        QVERIFY(!chats.at(0).at(1).value<ChatRequest>().params.logprobs.has_value());
        session.onRequestAccepted(chats.at(0).at(0).toULongLong(), 1);
        session.onOutputs({delta(1, 0, "!", FinishReason::stop)});

        panel.probabilitiesBox()->setChecked(true);
        panel.send("Once upon a time");
        QCOMPARE(chats.count(), 2);
        QCOMPARE(chats.at(1).at(1).value<ChatRequest>().params.logprobs, std::optional<std::int32_t>(5));
        session.onRequestAccepted(chats.at(1).at(0).toULongLong(), 2);
        RequestOutput out = delta(2, 0, ",");
        SampleResult comma;
        comma.token = 0;
        comma.logprob = std::log(0.75f);
        comma.rank = 1;
        comma.num_top_logprobs = 2;
        comma.top_logprobs[0] = {0, std::log(0.75f)};
        comma.top_logprobs[1] = {2, std::log(0.125f)};
        out.samples[0].logprobs = {comma};
        session.onOutputs({out});
        out = delta(2, 0, " there", FinishReason::length);
        SampleResult there;
        there.token = 1;
        there.logprob = std::log(0.5f);
        there.rank = 1;
        out.samples[0].logprobs = {there};
        session.onOutputs({out});
        QTRY_VERIFY(panel.transcriptText().contains(", there"));
        const ChatTurn& turn = panel.conversation(0).turns().back();
        QCOMPARE(int(turn.scores[0].size()), 2);
        // The first turn, asked without probabilities, keeps its plain text.
        QVERIFY(!panel.conversation(0).turns()[1].hasScores());

        QVERIFY(panel.showTokenDetails(tokenLinkUrl({3, 0, 0, 1})));
        QVERIFY2(panel.tokenDetailsText().contains("probability 75.0 %"), qPrintable(panel.tokenDetailsText()));
        QVERIFY(panel.tokenDetailsText().contains("␣was"));  // an alternative
        QVERIFY(panel.tokenDetailsText().contains("12.5 %"));
        QVERIFY(!panel.showTokenDetails(tokenLinkUrl({3, 0, 2, 1})));  // no third token
        QVERIFY(!panel.showTokenDetails(tokenLinkUrl({1, 0, 0, 1})));  // a turn without scores
        QVERIFY(!panel.showTokenDetails(QUrl("https://example.com")));
    }

    // Tab in the message box moves on to the next control, Shift+Tab back, as in any form: no
    // tab character is typed.
    void tabLeavesTheMessageBox() {
        Session session;
        ChatPanel panel(&session);
        session.onModelLoaded(loadedModel());
        panel.show();
        panel.activateWindow();
        QVERIFY(QTest::qWaitForWindowActive(&panel));
        auto* input = panel.findChild<QPlainTextEdit*>("chatInput");
        QVERIFY(input);
        input->setFocus();
        QTest::keyClicks(input, "draft");
        QTest::keyClick(input, Qt::Key_Tab);
        QCOMPARE(input->toPlainText(), QString("draft"));
        QVERIFY(!input->hasFocus());
        QVERIFY(panel.focusWidget() != nullptr);
        input->setFocus();
        QTest::keyClick(input, Qt::Key_Backtab, Qt::ShiftModifier);
        QCOMPARE(input->toPlainText(), QString("draft"));
        QVERIFY(!input->hasFocus());
    }

    // The line under the chat says how the turns reach the model: its template's family, or that
    // they are joined into one text because it has none or one kvscope does not render.
    void theTemplateLineSaysHowTheTurnsAreRendered() {
        Session session;
        ChatPanel panel(&session);
        auto* label = panel.findChild<QLabel*>("templateLabel");
        QVERIFY(label);
        ModelSummary m = loadedModel();
        session.onModelLoaded(m);
        QCOMPARE(label->text(),
                 QString("stories260K has no chat template: the turns are joined into one text that the model "
                         "continues."));
        m.name = "phi-3-mini";
        m.chatTemplate = "unrecognised";
        session.onModelLoaded(m);
        QCOMPARE(label->text(), QString("phi-3-mini's chat template is none that kvscope renders (ChatML, Llama 2/3, "
                                        "Mistral, Zephyr, DeepSeek-R1): the turns are joined into one text that "
                                        "the model continues."));
        m.name = "mistral-7b-instruct-v0.3";
        m.chatTemplate = "mistral-v3";
        session.onModelLoaded(m);
        QCOMPARE(label->text(), QString("Chat template: mistral-v3"));
    }

    // An answer stays under the name of the model that gave it: loading another model names the
    // next answers after it, not the earlier ones.
    void eachAnswerKeepsTheNameOfItsModel() {
        Session session;
        ChatPanel panel(&session);
        QSignalSpy chats(&session, &Session::submitChatCommand);
        ModelSummary first = loadedModel();
        first.name = "first-model";
        session.onModelLoaded(first);
        panel.send("Once upon a time");
        session.onRequestAccepted(chats.at(0).at(0).toULongLong(), 1);
        session.onOutputs({delta(1, 0, " there was", FinishReason::stop)});

        ModelSummary second = loadedModel();
        second.name = "second-model";
        session.onModelLoaded(second);
        panel.send("And then?");
        session.onRequestAccepted(chats.at(1).at(0).toULongLong(), 2);
        session.onOutputs({delta(2, 0, " a fox", FinishReason::stop)});

        const auto& turns = panel.conversation(0).turns();
        QCOMPARE(int(turns.size()), 4);
        QCOMPARE(turns[1].model, QString("first-model"));
        QCOMPARE(turns[3].model, QString("second-model"));
        // The transcript: each answer's heading line names its own model.
        QTRY_VERIFY2(panel.transcriptText().contains("a fox"), qPrintable(panel.transcriptText()));
        const QStringList lines = panel.transcriptText().split('\n');
        const auto headingBefore = [&](const QString& answer) {
            for (qsizetype at = 1; at < lines.size(); ++at) {
                if (lines[at].trimmed() == answer.trimmed()) return lines[at - 1];
            }
            return QString();
        };
        QVERIFY2(headingBefore(" there was").startsWith("first-model"), qPrintable(panel.transcriptText()));
        QVERIFY2(headingBefore(" a fox").startsWith("second-model"), qPrintable(panel.transcriptText()));
        QCOMPARE(panel.transcriptText().count("first-model"), 1);
    }

    // Streaming lays out only the running turn: the earlier ones stay as they were (a mark set on
    // their first block survives), and after every update the transcript holds what the whole
    // conversation laid out at once holds: the same text, links and colours, fragment by fragment.
    void theTranscriptChangesFromTheFirstTurnThatChanged() {
        Session session;
        ChatPanel panel(&session);
        QSignalSpy chats(&session, &Session::submitChatCommand);
        ModelSummary model = loadedModel();
        model.vocabulary = std::make_shared<const TokenVocabulary>(std::vector<std::string>{",", " there", " was"},
                                                                   std::vector<bool>{false, false, false});
        session.onModelLoaded(model);
        panel.probabilitiesBox()->setChecked(true);
        auto* transcript = panel.findChild<QTextBrowser*>("transcript");
        const auto fragments = [](const QTextDocument& doc) {
            QStringList out;
            for (QTextBlock b = doc.begin(); b != doc.end(); b = b.next()) {
                for (auto it = b.begin(); !it.atEnd(); ++it) {
                    const QTextFragment f = it.fragment();
                    out << f.text() + "|" + f.charFormat().anchorHref() + "|" +
                               f.charFormat().background().color().name() + "|" +
                               QString::number(f.charFormat().fontWeight());
                }
            }
            return out;
        };
        const auto sameAsWhole = [&] {
            QTextDocument whole;
            whole.setDefaultStyleSheet(transcript->document()->defaultStyleSheet());
            whole.setHtml(panel.conversation(0).html());
            return fragments(*transcript->document()) == fragments(whole);
        };
        qint64 id = 0;
        const auto turn = [&](const QString& text, int tokens) {
            panel.send(text);
            ++id;
            session.onRequestAccepted(chats.last().at(0).toULongLong(), id);
            for (int t = 0; t < tokens; ++t) {
                RequestOutput out =
                    delta(id, 0, t % 2 ? " there" : ",", t + 1 == tokens ? FinishReason::length : FinishReason::none);
                SampleResult r;
                r.token = t % 2;
                r.logprob = std::log(0.1f + 0.2f * float(t % 4));
                r.rank = 1 + t % 3;
                out.samples[0].logprobs = {r};
                session.onOutputs({out});
                // Each token is drawn by the refresh timer (40 ms or more) at the latest.
                if (!QTest::qWaitFor(sameAsWhole, 2000)) return false;
            }
            return true;
        };
        QVERIFY(turn("Once upon a time", 6));
        transcript->document()->firstBlock().setUserState(42);
        QVERIFY(turn("And then?", 8));
        QVERIFY(turn("More <please> & more", 5));  // escaped text
        QTRY_VERIFY(sameAsWhole());
        QCOMPARE(transcript->document()->firstBlock().userState(), 42);  // never laid out again
        QVERIFY(panel.transcriptText().contains("More <please> & more"));

        // Loading another model lays nothing out again: the answers keep their model's name.
        ModelSummary other = model;
        other.name = "other";
        session.onModelLoaded(other);
        QTest::qWait(100);
        QVERIFY(sameAsWhole());
        QCOMPARE(transcript->document()->firstBlock().userState(), 42);
        QVERIFY(!panel.transcriptText().contains("other"));
        panel.newConversation();
        QCOMPARE(transcript->document()->toPlainText(), QString());
    }
};

}  // namespace chat_test

KVSCOPE_QTEST_MAIN(chat_test, ChatTest)
#include "chat_test.moc"
