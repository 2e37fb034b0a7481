#pragma once
// Exports of a session: its metrics as JSON (one document) or CSV (the time series in the chosen
// file, the per-request table in <name>-requests.csv, settings and model in <name>-settings.csv,
// and, when the session measured any, the perplexity runs in <name>-perplexity.csv), each written
// atomically. The numbers are those of the recorder's samples, the request log and the
// perplexity log; missing values (a rate before two samples, a percentile without observations)
// are null / empty.
//
// JSON shape: {"format": "kvscope-session", "version": 1, "exported_at", "model": {...},
//   "settings": {...}, "totals": {...}, "time_series": [{"time_s", "kv_usage", ..., "after_gap",
//   "before_attach"}, ...] (the two flags 0 or 1: the first sample after an attached server did
//   not answer, an attach's first sample),
//   "requests": [{"id", "workbench_id", "source", "state", "prompt_tokens", ...}, ...],
//   "perplexity_runs": [{"model", "weight_type", "cache_dtype", "ppl", ...}, ...]}
//   (perplexity_runs' fields: ui/perplexity_log.h)
// A request's "id" is the engine's (attached: the workbench's call id; ids start again with each
// model), null for a request the engine never took (rejected, or "not sent": a cancelled batch's
// later arrivals, which its summary counts as cancelled); "workbench_id" is the workbench's own,
// unique in the session, for every request; "prompt_tokens" is null where the count is unknown
// (a text prompt the engine refused, a chat turn a server refused).

#include <QJsonObject>
#include <QString>
#include <QStringList>

namespace kvscope::ui {

class Session;

QJsonObject sessionJson(const Session& session);
// "" on success, else a one-line error.
QString exportSessionJson(const Session& session, const QString& path);
// Writes the CSV files (three, four with perplexity runs); returns their paths, or sets `error` and
// returns what was written.
QStringList exportSessionCsv(const Session& session, const QString& path, QString* error);
// The names of the time-series columns, in CSV order.
QStringList timeSeriesColumns();
// A CSV field: quoted when it holds a comma, a quote or a line break.
QString csvField(const QString& text);
// A JSON value as a CSV field: numbers unrounded (whole ones without a fraction), null empty.
QString csvValue(const QJsonValue& value);

}  // namespace kvscope::ui
