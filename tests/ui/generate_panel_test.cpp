// The generate panel: requests it emits from its controls, text it shows from outputs, and the
// state of its buttons through a request's life.

#include <QLabel>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSignalSpy>
#include <QSpinBox>
#include <QtTest>

#include "ui/generate_panel.h"

using kvscope::FinishReason;
using kvscope::Request;
using kvscope::RequestOutput;
using kvscope::SequenceOutput;
using kvscope::ui::GeneratePanel;

class GeneratePanelTest : public QObject {
    Q_OBJECT

private slots:
    void initTestCase() { qRegisterMetaType<kvscope::Request>(); }

    void generateIsDisabledUntilAModelIsReady() {
        GeneratePanel panel;
        auto* generate = panel.findChild<QPushButton*>("generate");
        QVERIFY(!generate->isEnabled());
        panel.setModelReady(true);
        QVERIFY(generate->isEnabled());
    }

    void clickingGenerateEmitsTheRequestOfTheControls() {
        GeneratePanel panel;
        panel.setModelReady(true);
        panel.setPrompt("The cat");
        panel.findChild<QSpinBox*>("maxTokens")->setValue(7);
        panel.findChild<QSpinBox*>("seed")->setValue(42);
        QSignalSpy spy(&panel, &GeneratePanel::generateRequested);
        QTest::mouseClick(panel.findChild<QPushButton*>("generate"), Qt::LeftButton);
        QCOMPARE(spy.count(), 1);
        const auto request = spy.at(0).at(0).value<Request>();
        QCOMPARE(QString::fromStdString(request.prompt), QString("The cat"));
        QCOMPARE(request.params.max_tokens, 7);
        QCOMPARE(request.params.seed.value(), 42u);
        QVERIFY(panel.isBusy());
        QVERIFY(!panel.findChild<QPushButton*>("generate")->isEnabled());
        QVERIFY(panel.findChild<QPushButton*>("stop")->isEnabled());
    }

    void outputsOfItsRequestStreamIntoTheTextPanel() {
        GeneratePanel panel;
        panel.setModelReady(true);
        panel.setPrompt("Once upon a time");
        QTest::mouseClick(panel.findChild<QPushButton*>("generate"), Qt::LeftButton);
        panel.onRequestAccepted(5);
        RequestOutput other;
        other.id = 6;
        other.samples.push_back(SequenceOutput{0, {1}, "ignored", {}, FinishReason::none});
        RequestOutput mine;
        mine.id = 5;
        mine.samples.push_back(SequenceOutput{0, {432, 383}, ", there", {}, FinishReason::none});
        panel.applyOutputs({other, mine});
        QCOMPARE(panel.outputText(), QString("Once upon a time, there"));
        RequestOutput last;
        last.id = 5;
        last.finished = true;
        last.samples.push_back(SequenceOutput{0, {286}, " was", {}, FinishReason::length});
        panel.applyOutputs({last});
        QCOMPARE(panel.outputText(), QString("Once upon a time, there was"));
        QVERIFY(!panel.isBusy());
        QVERIFY(panel.findChild<QPushButton*>("generate")->isEnabled());
    }

    void stopAsksToAbortTheRunningRequest() {
        GeneratePanel panel;
        panel.setModelReady(true);
        QTest::mouseClick(panel.findChild<QPushButton*>("generate"), Qt::LeftButton);
        panel.onRequestAccepted(9);
        QSignalSpy spy(&panel, &GeneratePanel::stopRequested);
        QTest::mouseClick(panel.findChild<QPushButton*>("stop"), Qt::LeftButton);
        QCOMPARE(spy.count(), 1);
        QCOMPARE(spy.at(0).at(0).toLongLong(), 9);
    }

    void aRejectionEndsTheRequestWithItsReason() {
        GeneratePanel panel;
        panel.setModelReady(true);
        QTest::mouseClick(panel.findChild<QPushButton*>("generate"), Qt::LeftButton);
        panel.onRequestRejected("the prompt is too long");
        QVERIFY(!panel.isBusy());
        QVERIFY(panel.findChild<QLabel*>("status")->text().contains("too long"));
    }
};

QTEST_MAIN(GeneratePanelTest)
#include "generate_panel_test.moc"
