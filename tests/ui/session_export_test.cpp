// Session exports parsed back: the JSON document (model, settings, time series, requests,
// perplexity runs), requests the engine never took (rejected, a cancelled batch's never sent:
// as many as the batch's own counts say) with an identity and what is known of their prompt,
// the CSV files (header, one row per sample, request or run, quoting), atomic writes that leave
// nothing behind on failure, and a clear message for a path that cannot be written, a full disk
// and a read-only one (a small tmpfs mounted for the test, where allowed) with the previous
// export intact.

#include <sys/mount.h>
#include <unistd.h>

#include <QDir>
#include <QJsonArray>
#include <QJsonDocument>
#include <QTemporaryDir>
#include <QtTest>

#include "tests/ui/qt_test_main.h"
#include "ui/atomic_file.h"
#include "ui/batch_run.h"
#include "ui/batch_workload.h"
#include "ui/perplexity_log.h"
#include "ui/request_log.h"
#include "ui/session.h"
#include "ui/session_export.h"
#include "ui/session_recorder.h"

namespace session_export_test {

using namespace kvscope;
using namespace kvscope::ui;

QStringList readLines(const QString& path) {
    QFile f(path);
    if (!f.open(QIODevice::ReadOnly)) return {};
    QStringList lines = QString::fromUtf8(f.readAll()).split('\n');
    if (!lines.isEmpty() && lines.last().isEmpty()) lines.removeLast();
    return lines;
}

// A session with a model, three samples and two requests (one with a comma in its reason).
void fill(Session& session) {
    ModelSummary m;
    m.source = "embedded:stories260K";
    m.name = "stories260K";
    m.numBlocks = 40;
    m.blockSize = 16;
    m.config.block_size = 16;
    session.onModelLoaded(m);
    for (int i = 0; i < 3; ++i) {
        auto s = std::make_shared<EngineSnapshot>();
        s->detail = SnapshotDetail::CountersOnly;
        s->kv.stats.num_blocks = 40;
        s->kv.stats.num_used_blocks = 10 * i;
        s->metrics.generation_tokens = 100 * i;
        session.onSnapshot(s, 0.5 * i);
    }
    Request r;
    r.prompt_token_ids = {1, 2, 3};
    session.submit(r, nullptr, "batch 1");
    session.submit(r, nullptr, "chat 1");
    session.onRequestAccepted(1, 10);
    RequestOutput out;
    out.id = 10;
    out.finished = true;
    out.samples.push_back(SequenceOutput{0, {5, 6}, "ab", {}, FinishReason::length, {}, {}});
    out.timings.num_prompt_tokens = 3;
    out.timings.num_generation_tokens = 2;
    out.timings.time_to_first_token = 0.004;
    session.onOutputs({out});
    session.onRequestRejected(2, "too long, shorten it");
}

// A tmpfs of `bytes` mounted on `dir` for the life of the object (root only); mounted() says
// whether that worked.
class SmallDisk {
public:
    SmallDisk(const QString& dir, int bytes) : m_dir(dir.toStdString()) {
        const std::string options = "size=" + std::to_string(bytes);
        m_mounted = ::mount("tmpfs", m_dir.c_str(), "tmpfs", 0, options.c_str()) == 0;
    }
    ~SmallDisk() {
        if (m_mounted) ::umount2(m_dir.c_str(), MNT_DETACH);
    }
    bool mounted() const { return m_mounted; }
    bool remountReadOnly() { return ::mount("tmpfs", m_dir.c_str(), "tmpfs", MS_REMOUNT | MS_RDONLY, nullptr) == 0; }

private:
    std::string m_dir;
    bool m_mounted = false;
};

QByteArray readAll(const QString& path) {
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

class SessionExportTest : public QObject {
    Q_OBJECT

private slots:
    void theJsonDocumentHoldsEverything() {
        Session session;
        fill(session);
        QTemporaryDir dir;
        const QString path = dir.filePath("s.json");
        QCOMPARE(exportSessionJson(session, path), QString());
        QFile f(path);
        QVERIFY(f.open(QIODevice::ReadOnly));
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(f.readAll(), &error);
        QCOMPARE(error.error, QJsonParseError::NoError);
        const QJsonObject o = doc.object();
        QCOMPARE(o["format"].toString(), QString("kvscope-session"));
        QCOMPARE(o["model"].toObject()["name"].toString(), QString("stories260K"));
        QCOMPARE(o["settings"].toObject()["block_size"].toInt(), 16);
        const QJsonArray series = o["time_series"].toArray();
        QCOMPARE(series.size(), 3);
        QCOMPARE(series[2].toObject()["kv_usage"].toDouble(), 0.5);
        QCOMPARE(series[2].toObject()["generation_tokens_per_s"].toDouble(), 200.0);  // 200 tokens in 1 s
        QVERIFY(series[0].toObject()["generation_tokens_per_s"].isNull());            // no earlier sample
        QCOMPARE(series[0].toObject().keys().size(), timeSeriesColumns().size());
        const QJsonArray requests = o["requests"].toArray();
        QCOMPARE(requests.size(), 2);
        QCOMPARE(requests[0].toObject()["state"].toString(), QString("finished"));
        QCOMPARE(requests[0].toObject()["ttft_ms"].toDouble(), 4.0);
        QCOMPARE(requests[1].toObject()["state"].toString(), QString("rejected"));
        QVERIFY(requests[1].toObject()["ttft_ms"].isNull());
        // The engine gave the rejected one no id (it was -1); the workbench's own ids tell them apart.
        QCOMPARE(requests[0].toObject()["id"].toInt(), 10);
        QVERIFY(requests[1].toObject()["id"].isNull());
        QCOMPARE(requests[0].toObject()["workbench_id"].toInt(), 1);
        QCOMPARE(requests[1].toObject()["workbench_id"].toInt(), 2);
        QCOMPARE(requests[1].toObject()["prompt_tokens"].toInt(), 3);              // sent as tokens: known
        QCOMPARE(QDir(dir.path()).entryList(QDir::Files), QStringList{"s.json"});  // no temporary left
    }

    void theCsvFilesHaveAHeaderAndOneRowEach() {
        Session session;
        fill(session);
        QTemporaryDir dir;
        QString error;
        const QStringList files = exportSessionCsv(session, dir.filePath("s.csv"), &error);
        QCOMPARE(error, QString());
        QCOMPARE(files,
                 (QStringList{dir.filePath("s.csv"), dir.filePath("s-requests.csv"), dir.filePath("s-settings.csv")}));
        const QStringList series = readLines(files[0]);
        QCOMPARE(series.size(), 4);
        QCOMPARE(series[0], timeSeriesColumns().join(','));
        const QStringList last = series[3].split(',');
        QCOMPARE(last.size(), timeSeriesColumns().size());
        QCOMPARE(last[timeSeriesColumns().indexOf("used_blocks")], QString("20"));
        QCOMPARE(series[1].split(',')[timeSeriesColumns().indexOf("generation_tokens_per_s")], QString());
        const QStringList requests = readLines(files[1]);
        QCOMPARE(requests.size(), 3);
        QVERIFY(requests[0].startsWith("id,source,state,"));
        QVERIFY(requests[0].endsWith(",workbench_id"));                // a column added at the end
        QVERIFY(requests[2].endsWith(",\"too long, shorten it\",2"));  // quoted: it holds a comma
        QVERIFY(requests[2].startsWith(",chat 1,rejected,1,3,"));      // no engine id; its 3 prompt tokens
        const QStringList settings = readLines(files[2]);
        QVERIFY(settings.contains("model,name,stories260K"));
        QVERIFY(settings.contains("settings,block_size,16"));
    }

    void perplexityRunsGoWithTheSession() {
        Session session;
        fill(session);
        QTemporaryDir dir;
        QCOMPARE(sessionJson(session)["perplexity_runs"].toArray().size(), 0);
        PerplexityRecord r;
        r.model = "stories260K";
        r.cacheDtype = "q8_0";
        r.context = 128;
        r.numChunks = 7;
        const int row = session.perplexityLog()->start(r);
        PerplexityEstimate e;
        e.num_scored = 441;
        e.ppl = 5.25;
        session.perplexityLog()->finish(row, e, 2.0);

        const QJsonArray runs = sessionJson(session)["perplexity_runs"].toArray();
        QCOMPARE(runs.size(), 1);
        QCOMPARE(runs[0].toObject()["cache_dtype"].toString(), QString("q8_0"));
        QCOMPARE(runs[0].toObject()["ppl"].toDouble(), 5.25);
        QString error;
        const QStringList files = exportSessionCsv(session, dir.filePath("s.csv"), &error);
        QCOMPARE(error, QString());
        QCOMPARE(files.size(), 4);
        QCOMPARE(files[3], dir.filePath("s-perplexity.csv"));
        const QStringList lines = readLines(files[3]);
        QCOMPARE(lines.size(), 2);
        QCOMPARE(lines[0], PerplexityLog::fields().join(','));
        QCOMPARE(lines[1].split(',')[PerplexityLog::fields().indexOf("ppl")], QString("5.25"));
    }

    // A batch of 7: three arrive at once (one finishes, one is rejected, one is aborted by the
    // cancel), four never come. Oracle: the run's own counts, which its summary shows.
    void aCancelledBatchExportsEveryRequestAsItsSummaryCountsThem() {
        Session session;
        QSignalSpy submitted(&session, &Session::submitCommand);
        std::vector<BatchItem> items(7);
        for (std::size_t i = 0; i < items.size(); ++i) {
            items[i].arrivalS = i < 3 ? 0.0 : 5.0;
            items[i].request.prompt_token_ids.assign(10 + i, 1);  // 10, 11, ... 16 tokens
        }
        BatchRun run(&session, "batch 1", items);
        run.setClock([] { return 0.0; });
        run.start();
        QCOMPARE(submitted.count(), 3);
        session.onRequestAccepted(submitted.at(0).at(0).toULongLong(), 10);
        session.onRequestRejected(submitted.at(1).at(0).toULongLong(), "too long");
        session.onRequestAccepted(submitted.at(2).at(0).toULongLong(), 11);
        RequestOutput done;
        done.id = 10;
        done.finished = true;
        done.samples.push_back(SequenceOutput{0, {5}, "a", {}, FinishReason::length, {}, {}});
        done.timings.num_prompt_tokens = 10;
        done.timings.num_generation_tokens = 1;
        session.onOutputs({done});
        run.cancel();
        RequestOutput aborted = done;
        aborted.id = 11;
        aborted.samples[0].finish_reason = FinishReason::abort;
        aborted.timings.num_prompt_tokens = 12;
        session.onOutputs({aborted});
        QVERIFY(run.isDone());
        QCOMPARE(run.finished(), 1);
        QCOMPARE(run.rejected(), 1);
        QCOMPARE(run.cancelled(), 5);

        QMap<QString, int> byState;
        QSet<qint64> workbenchIds;
        QList<int> prompts;
        const QJsonArray requests = sessionJson(session)["requests"].toArray();
        for (const QJsonValue& v : requests) {
            const QJsonObject r = v.toObject();
            QCOMPARE(r["source"].toString(), QString("batch 1"));
            ++byState[r["state"].toString()];
            workbenchIds.insert(r["workbench_id"].toInteger(-1));
            prompts << r["prompt_tokens"].toInt(-1);
            const QString state = r["state"].toString();
            QCOMPARE(r["id"].isNull(), state != "finished" && state != "aborted");  // the engine took these
            if (state == "not sent") QCOMPARE(r["output_tokens"].toInt(), 0);
        }
        QCOMPARE(int(requests.size()), run.total());
        QCOMPARE(byState["finished"], run.finished());
        QCOMPARE(byState["rejected"], run.rejected());
        QCOMPARE(byState["aborted"] + byState["not sent"], run.cancelled());
        QCOMPARE(byState["not sent"], 4);
        QCOMPARE(workbenchIds.size(), 7);  // one each
        QVERIFY(!workbenchIds.contains(-1));
        std::sort(prompts.begin(), prompts.end());
        QCOMPARE(prompts, (QList<int>{10, 11, 12, 13, 14, 15, 16}));

        // The CSV has the same rows.
        QTemporaryDir dir;
        QString error;
        const QStringList files = exportSessionCsv(session, dir.filePath("s.csv"), &error);
        QCOMPARE(error, QString());
        const QStringList rows = readLines(files.value(1));
        QCOMPARE(rows.size(), 1 + run.total());
        QCOMPARE(rows.filter(",not sent,").size(), 4);
    }

    // A chat turn is sent as messages: its prompt tokens are what the engine's tokenizer counted
    // (EngineWorker::chatTokenized), or unknown - null, not 0 - when nobody said.
    void aRejectedChatTurnHasItsPromptTokensOrNone() {
        Session session;
        ChatRequest chat;
        chat.messages.push_back({"user", "hello"});
        const quint64 counted = session.submitChat(chat, nullptr, "chat 1");
        const quint64 uncounted = session.submitChat(chat, nullptr, "chat 2");
        session.onChatTokenized(counted, 612);
        session.onRequestRejected(counted, "the prompt has 612 tokens, but the context holds 512");
        session.onRequestRejected(uncounted, "http://127.0.0.1:8000: 400 too long");
        const QJsonArray requests = sessionJson(session)["requests"].toArray();
        QCOMPARE(requests.size(), 2);
        QCOMPARE(requests[0].toObject()["prompt_tokens"].toInt(), 612);
        QVERIFY(requests[1].toObject()["prompt_tokens"].isNull());
        QCOMPARE(session.requestLog()->data(session.requestLog()->index(1, RequestLog::PromptTokens), Qt::DisplayRole),
                 QVariant(QStringLiteral("–")));
    }

    void fieldsAreQuotedOnlyWhenNeeded() {
        QCOMPARE(csvField("plain"), QString("plain"));
        QCOMPARE(csvField("a,b"), QString("\"a,b\""));
        QCOMPARE(csvField("say \"hi\""), QString("\"say \"\"hi\"\"\""));
        QCOMPARE(csvField("two\nlines"), QString("\"two\nlines\""));
    }

    void anUnwritablePathIsAClearErrorAndLeavesNothing() {
        Session session;
        fill(session);
        QTemporaryDir dir;
        const QString path = dir.filePath("no/such/folder/s.json");
        const QString error = exportSessionJson(session, path);
        QVERIFY(error.startsWith(path + ": cannot write here"));
        QString csvError;
        QVERIFY(exportSessionCsv(session, dir.filePath("no/s.csv"), &csvError).isEmpty());
        QVERIFY(csvError.contains("cannot write here"));
        QVERIFY(saveImageAtomically(dir.filePath("no/x.png"), QImage(4, 4, QImage::Format_RGB32)).contains("no/x.png"));
        QCOMPARE(QDir(dir.path()).entryList(QDir::AllEntries | QDir::NoDotAndDotDot), QStringList());
    }

    void aFullOrReadOnlyDiskIsAClearErrorAndKeepsThePreviousExport() {
        QTemporaryDir dir;
        const QString mountPoint = dir.filePath("disk");
        QVERIFY(QDir().mkdir(mountPoint));
        SmallDisk disk(mountPoint, 64 * 1024);
        if (!disk.mounted()) QSKIP("mounting a tmpfs needs root (CAP_SYS_ADMIN); the full-disk case is not run");
        Session session;
        fill(session);
        const QString path = mountPoint + "/session.json";
        QCOMPARE(exportSessionJson(session, path), QString());
        const QByteArray previous = readAll(path);
        QVERIFY(previous.size() > 100);

        // Fill the disk to the last byte (again after each failed export frees its temporary
        // file), then export a larger session.
        int fillers = 0;
        auto fillDisk = [&] {
            QFile filler(mountPoint + QString("/filler%1").arg(fillers++));
            if (!filler.open(QIODevice::WriteOnly)) return;
            const QByteArray byte(1, 'x');
            while (filler.write(byte) == 1 && filler.flush()) {
            }
        };
        fillDisk();
        for (int i = 0; i < 200; ++i) {
            auto s = std::make_shared<EngineSnapshot>();
            s->detail = SnapshotDetail::CountersOnly;
            session.onSnapshot(s, 2.0 + i);
        }
        const QString full = exportSessionJson(session, path);
        QVERIFY2(full.startsWith(path + ": "), qPrintable(full));
        QVERIFY(!full.contains('\n'));
        QCOMPARE(readAll(path), previous);
        fillDisk();
        QString csvError;
        QVERIFY(exportSessionCsv(session, mountPoint + "/s.csv", &csvError).isEmpty());
        QVERIFY2(csvError.startsWith(mountPoint + "/s.csv: writing failed"), qPrintable(csvError));
        QCOMPARE(QDir(mountPoint).entryList(QStringList{"s*.csv"}, QDir::Files), QStringList());

        // Read-only: refused with a message, the previous export still whole.
        for (const QString& name : QDir(mountPoint).entryList(QStringList{"filler*", "s*.csv"}, QDir::Files)) {
            QVERIFY(QFile::remove(mountPoint + "/" + name));
        }
        QVERIFY(disk.remountReadOnly());
        const QString readOnly = exportSessionJson(session, path);
        QVERIFY2(readOnly.startsWith(path + ": cannot write here"), qPrintable(readOnly));
        QCOMPARE(readAll(path), previous);
        QCOMPARE(QDir(mountPoint).entryList(QDir::AllEntries | QDir::NoDotAndDotDot), QStringList{"session.json"});
    }

    void anExistingFileIsReplacedWhole() {
        QTemporaryDir dir;
        const QString path = dir.filePath("x.txt");
        QCOMPARE(writeAtomically(path, QByteArray("a much longer first version")), QString());
        QCOMPARE(writeAtomically(path, QByteArray("short")), QString());
        QCOMPARE(readLines(path), QStringList{"short"});
        // A writer that fails leaves the previous file as it was.
        QVERIFY(!writeAtomically(path, [](QIODevice& out) {
                     out.write("partial");
                     return false;
                 }).isEmpty());
        QCOMPARE(readLines(path), QStringList{"short"});
    }
};

}  // namespace session_export_test

KVSCOPE_QTEST_MAIN(session_export_test, SessionExportTest)
#include "session_export_test.moc"
