#include "ui/perplexity_log.h"

#include <QBrush>
#include <QColor>
#include <QJsonObject>
#include <cmath>

#include "ui/session_export.h"

namespace kvscope::ui {
namespace {

QJsonValue optionalNumber(bool known, double v) {
    return known && std::isfinite(v) ? QJsonValue(v) : QJsonValue(QJsonValue::Null);
}

QJsonObject recordJson(const PerplexityRecord& r, std::optional<double> change) {
    const bool scored = r.estimate.num_scored > 0;
    return QJsonObject{{"model", r.model},
                       {"weight_type", r.weights},
                       {"cache_dtype", r.cacheDtype},
                       {"text", r.text},
                       {"context", r.context},
                       {"score", r.scoreAll ? QStringLiteral("all") : QStringLiteral("second-half")},
                       {"text_tokens", r.textTokens},
                       {"num_chunks", r.numChunks},
                       {"chunks_done", r.chunksDone},
                       {"scored_tokens", qint64(r.estimate.num_scored)},
                       {"nll_mean", optionalNumber(scored, r.estimate.nll_mean)},
                       {"ppl", optionalNumber(scored, r.estimate.ppl)},
                       {"ppl_error", optionalNumber(r.estimate.num_scored > 1, r.estimate.ppl_error)},
                       {"change_pct", optionalNumber(change.has_value(), change.value_or(0.0))},
                       {"seconds", r.seconds},
                       {"tokens_per_second", r.tokensPerSecond()},
                       {"state", perplexityStateName(r.state)},
                       {"error", r.error}};
}

}  // namespace

double PerplexityRecord::tokensPerSecond() const {
    return seconds > 0 && chunksDone > 0 ? double(chunksDone) * context / seconds : 0.0;
}

QString perplexityStateName(PerplexityRecord::State state) {
    switch (state) {
        case PerplexityRecord::State::Running:
            return QStringLiteral("running");
        case PerplexityRecord::State::Finished:
            return QStringLiteral("finished");
        case PerplexityRecord::State::Stopped:
            return QStringLiteral("stopped");
        case PerplexityRecord::State::Failed:
            return QStringLiteral("failed");
    }
    return {};
}

PerplexityLog::PerplexityLog(QObject* parent) : QAbstractTableModel(parent) {}

int PerplexityLog::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_records.size());
}

int PerplexityLog::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : NumColumns;
}

QVariant PerplexityLog::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const PerplexityRecord& r = m_records[std::size_t(index.row())];
    const bool ended = r.state == PerplexityRecord::State::Stopped || r.state == PerplexityRecord::State::Failed;
    if (role == Qt::TextAlignmentRole) {
        return index.column() <= Text ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                                      : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role == Qt::ForegroundRole && index.column() == Change && r.state == PerplexityRecord::State::Failed)
        return QBrush(QColor(0xb0, 0x20, 0x20));
    if (role == Qt::ToolTipRole && index.column() == Change && ended) return r.error;
    if (role != Qt::DisplayRole) return {};
    const bool scored = r.estimate.num_scored > 0;
    switch (index.column()) {
        case Model:
            return r.model;
        case Weights:
            return r.weights;
        case Cache:
            return r.cacheDtype;
        case Text:
            return r.text;
        case Context:
            return QString::number(r.context) + (r.scoreAll ? tr(", all") : QString());
        case Chunks:
            return r.state == PerplexityRecord::State::Finished
                       ? QString::number(r.numChunks)
                       : QStringLiteral("%1/%2").arg(r.chunksDone).arg(r.numChunks);
        case Scored:
            return r.chunksDone > 0 ? QVariant(qint64(r.estimate.num_scored)) : QVariant();
        case Ppl:
            return scored ? QVariant(QString::number(r.estimate.ppl, 'f', 4)) : QVariant();
        case Error:
            return r.estimate.num_scored > 1 ? QVariant(QString::number(r.estimate.ppl_error, 'f', 4)) : QVariant();
        case Change:
            if (ended) return r.error;
            if (r.state != PerplexityRecord::State::Finished) return {};
            if (index.row() == m_baseRow) return tr("base");
            if (const std::optional<double> change = changePct(index.row()))
                return QStringLiteral("%1%2 %").arg(*change >= 0 ? "+" : "").arg(*change, 0, 'f', 2);
            return {};
        case Seconds:
            return r.chunksDone > 0 || r.state != PerplexityRecord::State::Running
                       ? QVariant(QString::number(r.seconds, 'f', r.seconds < 10 ? 2 : 1))
                       : QVariant();
    }
    return {};
}

QVariant PerplexityLog::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    static const char* const kNames[] = {"Model",  "Weights", "KV cache", "Text",    "Context", "Chunks",
                                         "Scored", "PPL",     "±",        "vs base", "s"};
    static const char* const kTips[] = {
        "The model the run scored with",
        "Its weight type (and what it was converted from)",
        "The KV cache's dtype",
        "The text scored",
        "Tokens per chunk (\", all\": every token scored, not only each chunk's second half)",
        "Chunks scored, of those the text holds (or --chunks asked for)",
        "Tokens scored",
        "Perplexity: exp(mean negative log-likelihood) over the tokens scored",
        "PPL × the standard error of the mean NLL, as llama-perplexity prints it",
        "Change in PPL from the base run: the first to finish, or the one chosen with right-click ▸ Compare with "
        "This Run",
        "Seconds from the chunks' submission to the last one scored"};
    if (section < 0 || section >= NumColumns) return {};
    if (role == Qt::DisplayRole) return tr(kNames[section]);
    if (role == Qt::ToolTipRole) return tr(kTips[section]);
    return {};
}

int PerplexityLog::start(PerplexityRecord record) {
    record.state = PerplexityRecord::State::Running;
    record.chunksDone = 0;
    record.estimate = {};
    record.seconds = 0.0;
    record.error.clear();
    const int row = rowCount();
    beginInsertRows({}, row, row);
    m_records.push_back(std::move(record));
    endInsertRows();
    return row;
}

void PerplexityLog::progress(int row, qint32 chunksDone, const PerplexityEstimate& running, double seconds) {
    if (row < 0 || row >= rowCount()) return;
    PerplexityRecord& r = m_records[std::size_t(row)];
    r.chunksDone = chunksDone;
    r.estimate = running;
    r.seconds = seconds;
    changed(row);
}

void PerplexityLog::finish(int row, const PerplexityEstimate& estimate, double seconds) {
    if (row < 0 || row >= rowCount()) return;
    PerplexityRecord& r = m_records[std::size_t(row)];
    r.state = PerplexityRecord::State::Finished;
    r.chunksDone = r.numChunks;
    r.estimate = estimate;
    r.seconds = seconds;
    if (m_baseRow < 0) m_baseRow = row;
    changed(row);
}

void PerplexityLog::end(int row, PerplexityRecord::State state, const QString& error, double seconds) {
    if (row < 0 || row >= rowCount()) return;
    PerplexityRecord& r = m_records[std::size_t(row)];
    r.state = state;
    r.error = error;
    r.seconds = seconds;
    changed(row);
}

std::optional<double> PerplexityLog::basePpl() const {
    if (m_baseRow < 0) return std::nullopt;
    return m_records[std::size_t(m_baseRow)].estimate.ppl;
}

std::optional<double> PerplexityLog::changePct(int row) const {
    if (row < 0 || row >= rowCount() || row == m_baseRow || m_baseRow < 0) return std::nullopt;
    const PerplexityRecord& r = m_records[std::size_t(row)];
    if (r.state != PerplexityRecord::State::Finished) return std::nullopt;
    return (r.estimate.ppl / *basePpl() - 1.0) * 100.0;
}

bool PerplexityLog::setBase(int row) {
    if (row < 0 || row >= rowCount() || m_records[std::size_t(row)].state != PerplexityRecord::State::Finished)
        return false;
    m_baseRow = row;
    emit dataChanged(index(0, Change), index(rowCount() - 1, Change));
    return true;
}

void PerplexityLog::clear() {
    beginResetModel();
    m_records.clear();
    m_baseRow = -1;
    endResetModel();
}

void PerplexityLog::changed(int row) {
    emit dataChanged(index(row, 0), index(row, NumColumns - 1));
}

QStringList PerplexityLog::fields() {
    return {"model",      "weight_type",       "cache_dtype",   "text",     "context", "score",     "text_tokens",
            "num_chunks", "chunks_done",       "scored_tokens", "nll_mean", "ppl",     "ppl_error", "change_pct",
            "seconds",    "tokens_per_second", "state",         "error"};
}

QJsonArray PerplexityLog::toJson() const {
    QJsonArray runs;
    for (std::size_t i = 0; i < m_records.size(); ++i) runs.append(recordJson(m_records[i], changePct(int(i))));
    return runs;
}

QString PerplexityLog::toCsv() const {
    const QStringList names = fields();
    QString text = names.join(QLatin1Char(',')) + QLatin1Char('\n');
    for (std::size_t i = 0; i < m_records.size(); ++i) {
        const QJsonObject o = recordJson(m_records[i], changePct(int(i)));
        QStringList row;
        for (const QString& name : names) row << csvValue(o.value(name));
        text += row.join(QLatin1Char(',')) + QLatin1Char('\n');
    }
    return text;
}

}  // namespace kvscope::ui
