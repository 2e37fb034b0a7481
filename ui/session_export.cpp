#include "ui/session_export.h"

#include <QDateTime>
#include <QDir>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <cmath>
#include <functional>

#include "ui/atomic_file.h"
#include "ui/perplexity_log.h"
#include "ui/request_log.h"
#include "ui/session.h"
#include "ui/session_recorder.h"
#include "ui/workbench_settings.h"

namespace kvscope::ui {
namespace {

struct Column {
    const char* name;
    std::function<double(const MetricSample&, const ChartPoint&)> value;
};

const std::vector<Column>& columns() {
    static const std::vector<Column> c = {
        {"time_s", [](const MetricSample& s, const ChartPoint&) { return s.timeS; }},
        {"epoch", [](const MetricSample& s, const ChartPoint&) { return double(s.epoch); }},
        {"step", [](const MetricSample& s, const ChartPoint&) { return double(s.step); }},
        {"kv_usage", [](const MetricSample& s, const ChartPoint&) { return s.kvUsage; }},
        {"fragmentation", [](const MetricSample& s, const ChartPoint&) { return s.fragmentation; }},
        {"prefix_hit_rate", [](const MetricSample& s, const ChartPoint&) { return s.prefixHitRate; }},
        {"used_blocks", [](const MetricSample& s, const ChartPoint&) { return double(s.usedBlocks); }},
        {"cached_blocks", [](const MetricSample& s, const ChartPoint&) { return double(s.cachedBlocks); }},
        {"free_blocks", [](const MetricSample& s, const ChartPoint&) { return double(s.freeBlocks); }},
        {"shared_blocks", [](const MetricSample& s, const ChartPoint&) { return double(s.sharedBlocks); }},
        {"saved_blocks", [](const MetricSample& s, const ChartPoint&) { return double(s.savedBlocks); }},
        {"saved_bytes", [](const MetricSample& s, const ChartPoint&) { return double(s.savedBytes); }},
        {"prompt_tokens", [](const MetricSample& s, const ChartPoint&) { return double(s.promptTokens); }},
        {"generation_tokens", [](const MetricSample& s, const ChartPoint&) { return double(s.generationTokens); }},
        {"prompt_tokens_per_s", [](const MetricSample&, const ChartPoint& p) { return p.promptTps; }},
        {"generation_tokens_per_s", [](const MetricSample&, const ChartPoint& p) { return p.generationTps; }},
        {"running", [](const MetricSample& s, const ChartPoint&) { return double(s.running); }},
        {"waiting", [](const MetricSample& s, const ChartPoint&) { return double(s.waiting); }},
        {"preempted", [](const MetricSample& s, const ChartPoint&) { return double(s.preempted); }},
        {"preemptions_total", [](const MetricSample& s, const ChartPoint&) { return double(s.preemptionsTotal); }},
        {"ttft_p50_ms", [](const MetricSample&, const ChartPoint& p) { return p.ttftP50Ms; }},
        {"ttft_p99_ms", [](const MetricSample&, const ChartPoint& p) { return p.ttftP99Ms; }},
        {"itl_p50_ms", [](const MetricSample&, const ChartPoint& p) { return p.itlP50Ms; }},
        {"itl_p99_ms", [](const MetricSample&, const ChartPoint& p) { return p.itlP99Ms; }},
        // 1 for the first sample after an attached server did not answer (none was taken in
        // between: rates there span the whole gap), and for an attach's first (its latencies are
        // the server's history before the attach); else 0. Added last: earlier columns keep their place.
        {"after_gap", [](const MetricSample& s, const ChartPoint&) { return s.afterGap ? 1.0 : 0.0; }},
        {"before_attach", [](const MetricSample& s, const ChartPoint&) { return s.beforeAttach ? 1.0 : 0.0; }},
    };
    return c;
}

QJsonValue number(double v) {
    return std::isfinite(v) ? QJsonValue(v) : QJsonValue(QJsonValue::Null);
}

QString csvNumber(double v) {
    if (!std::isfinite(v)) return {};
    return v == std::floor(v) && std::abs(v) < 1e15 ? QString::number(qint64(v)) : QString::number(v, 'g', 10);
}

QJsonObject modelJson(const ModelSummary& m) {
    return QJsonObject{{"source", m.source},
                       {"name", m.name},
                       {"architecture", m.architecture},
                       {"backend", m.backend},
                       {"weights", weightDescription(m)},
                       {"chat_template", m.chatTemplate},
                       {"num_params", m.numParams},
                       {"num_layers", m.numLayers},
                       {"vocab_size", m.vocabSize},
                       {"num_blocks", m.numBlocks},
                       {"block_size", m.blockSize},
                       {"block_bytes", m.blockBytes},
                       {"context_length", m.contextLength}};
}

QJsonObject settingsJson(const LoadRequest& r) {
    const EngineConfig& c = r.config;
    return QJsonObject{{"source", r.source},
                       {"weight_type", r.weightType ? weightConversionText(r) : QStringLiteral("as stored")},
                       {"block_size", c.block_size},
                       {"kv_cache_bytes", qint64(c.kv_cache_bytes)},
                       {"num_kv_blocks", c.num_kv_blocks ? QJsonValue(*c.num_kv_blocks) : QJsonValue(QJsonValue::Null)},
                       {"cache_dtype", tensorTypeText(c.cache_dtype)},
                       {"enable_prefix_caching", c.enable_prefix_caching},
                       {"max_num_seqs", c.max_num_seqs},
                       {"max_num_batched_tokens", c.max_num_batched_tokens},
                       {"enable_chunked_prefill", c.enable_chunked_prefill},
                       {"max_model_len", c.max_model_len},
                       {"num_threads", c.num_threads}};
}

QJsonValue optionalMs(const std::optional<double>& seconds) {
    return seconds ? QJsonValue(*seconds * 1000.0) : QJsonValue(QJsonValue::Null);
}

QJsonValue orNull(const std::optional<qint32>& v) {
    return v ? QJsonValue(*v) : QJsonValue(QJsonValue::Null);
}

QJsonObject requestJson(const RequestRecord& r) {
    return QJsonObject{{"id", r.id >= 0 ? QJsonValue(r.id) : QJsonValue(QJsonValue::Null)},
                       {"workbench_id", qint64(r.tag)},
                       {"source", r.source},
                       {"state", requestStateName(r.state)},
                       {"n", r.numSamples},
                       {"prompt_tokens", orNull(r.promptTokens)},
                       {"cached_tokens", r.cachedTokens},
                       {"output_tokens", r.outputTokens},
                       {"ttft_ms", optionalMs(r.ttftS)},
                       {"tpot_ms", optionalMs(r.tpotS)},
                       {"e2e_ms", optionalMs(r.e2eS)},
                       {"blocks_held", r.blocksHeld},
                       {"preemptions", r.preemptions},
                       {"finish_reason", r.finishReason}};
}

// New columns go at the end: a reader that counts columns keeps working.
const char* kRequestColumns[] = {
    "id",      "source",  "state",  "n",           "prompt_tokens", "cached_tokens", "output_tokens",
    "ttft_ms", "tpot_ms", "e2e_ms", "blocks_held", "preemptions",   "finish_reason", "workbench_id"};

}  // namespace

QString csvValue(const QJsonValue& v) {
    if (v.isNull() || v.isUndefined()) return {};
    if (v.isDouble()) return csvNumber(v.toDouble());
    if (v.isBool()) return v.toBool() ? QStringLiteral("true") : QStringLiteral("false");
    return csvField(v.toString());
}

QStringList timeSeriesColumns() {
    QStringList names;
    for (const Column& c : columns()) names << QString::fromLatin1(c.name);
    return names;
}

QString csvField(const QString& text) {
    if (!text.contains(QLatin1Char(',')) && !text.contains(QLatin1Char('"')) && !text.contains(QLatin1Char('\n')) &&
        !text.contains(QLatin1Char('\r')))
        return text;
    QString quoted = text;
    quoted.replace(QLatin1String("\""), QLatin1String("\"\""));
    return QLatin1Char('"') + quoted + QLatin1Char('"');
}

QJsonObject sessionJson(const Session& session) {
    const SessionRecorder& rec = *session.recorder();
    QJsonArray series;
    for (std::size_t i = 0; i < rec.samples().size(); ++i) {
        const ChartPoint p = rec.point(i);
        QJsonObject row;
        for (const Column& c : columns()) row.insert(QLatin1String(c.name), number(c.value(rec.samples()[i], p)));
        series.append(row);
    }
    QJsonArray requests;
    for (const RequestRecord& r : session.requestLog()->records()) requests.append(requestJson(r));
    QJsonObject totals;
    if (auto s = session.latest()) {
        const EngineMetrics& m = s->metrics;
        totals = QJsonObject{{"steps", qint64(m.num_steps)},
                             {"prompt_tokens", qint64(m.prompt_tokens)},
                             {"generation_tokens", qint64(m.generation_tokens)},
                             {"preemptions", qint64(m.num_preemptions)},
                             {"prefix_cache_queries", qint64(m.prefix_cache_queries)},
                             {"prefix_cache_hits", qint64(m.prefix_cache_hits)},
                             {"prefix_cache_hit_rate", m.prefix_cache_hit_rate()},
                             {"requests_finished_stop", qint64(m.request_success_stop)},
                             {"requests_finished_length", qint64(m.request_success_length)},
                             {"requests_aborted", qint64(m.request_success_abort)}};
    }
    return QJsonObject{{"format", "kvscope-session"},
                       {"version", 1},
                       {"exported_at", QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
                       {"model", modelJson(session.model())},
                       {"settings", settingsJson(session.lastLoad())},
                       {"totals", totals},
                       {"time_series", series},
                       {"requests", requests},
                       {"perplexity_runs", session.perplexityLog()->toJson()}};
}

QString exportSessionJson(const Session& session, const QString& path) {
    return writeAtomically(path, QJsonDocument(sessionJson(session)).toJson(QJsonDocument::Indented));
}

QStringList exportSessionCsv(const Session& session, const QString& path, QString* error) {
    const QFileInfo info(path);
    const QString base = info.dir().filePath(info.completeBaseName());
    const QString requestsPath = base + QStringLiteral("-requests.csv");
    const QString settingsPath = base + QStringLiteral("-settings.csv");
    const QString perplexityPath = base + QStringLiteral("-perplexity.csv");
    const SessionRecorder& rec = *session.recorder();

    QString series = timeSeriesColumns().join(QLatin1Char(',')) + QLatin1Char('\n');
    for (std::size_t i = 0; i < rec.samples().size(); ++i) {
        const ChartPoint p = rec.point(i);
        QStringList row;
        for (const Column& c : columns()) row << csvNumber(c.value(rec.samples()[i], p));
        series += row.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    QString requests;
    for (const char* c : kRequestColumns) requests += QString::fromLatin1(c) + QLatin1Char(',');
    requests.chop(1);
    requests += QLatin1Char('\n');
    for (const RequestRecord& r : session.requestLog()->records()) {
        const QJsonObject o = requestJson(r);
        QStringList row;
        for (const char* c : kRequestColumns) row << csvValue(o.value(QLatin1String(c)));
        requests += row.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    QString settings = QStringLiteral("section,key,value\n");
    for (const auto& [section, object] : {std::pair{QStringLiteral("model"), modelJson(session.model())},
                                          std::pair{QStringLiteral("settings"), settingsJson(session.lastLoad())}}) {
        for (auto it = object.begin(); it != object.end(); ++it)
            settings +=
                section + QLatin1Char(',') + it.key() + QLatin1Char(',') + csvValue(it.value()) + QLatin1Char('\n');
    }

    std::vector<std::pair<QString, QString>> files{{path, series}, {requestsPath, requests}, {settingsPath, settings}};
    const PerplexityLog& perplexity = *session.perplexityLog();
    if (perplexity.rowCount() > 0) files.emplace_back(perplexityPath, perplexity.toCsv());
    QStringList written;
    for (const auto& [file, text] : files) {
        const QString problem = writeAtomically(file, text.toUtf8());
        if (!problem.isEmpty()) {
            if (error) *error = problem;
            return written;
        }
        written << file;
    }
    return written;
}

}  // namespace kvscope::ui
