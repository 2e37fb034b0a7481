// Session exports parsed back: the JSON document (model, settings, time series, requests,
// perplexity runs), the CSV files (header, one row per sample, request or run, quoting), atomic writes that leave
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
        QVERIFY(requests[2].endsWith(",\"too long, shorten it\""));  // quoted: it holds a comma
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
