#pragma once
// Every perplexity run of the session, one row each: the perplexity tab's table, its Save… CSV
// and the session export's "perplexity_runs" (and <name>-perplexity.csv). A row is what the run
// measured with (model, weights, KV cache dtype, text, context) and how far it got; a column
// compares each finished run with the base (the first finished one, or the one the user picks),
// so that loads with other weights or cache dtypes compare row by row. The rows outlive model
// loads.
//
// JSON / CSV fields (the CSV's header, in this order), named as `kvscope-cli perplexity --json`
// names them: model, weight_type, cache_dtype, text, context, score ("second-half" | "all"),
// text_tokens, num_chunks, chunks_done, scored_tokens, nll_mean, ppl, ppl_error, change_pct
// (null for the base run and unfinished ones), seconds, tokens_per_second, state ("running" |
// "finished" | "stopped" | "failed"), error.

#include <QAbstractTableModel>
#include <QJsonArray>
#include <QString>
#include <optional>
#include <vector>

#include "engine/perplexity.h"

namespace kvscope::ui {

struct PerplexityRecord {
    enum class State { Running, Finished, Stopped, Failed };

    QString model;
    QString weights;     // as the model summary describes them ("Q8_0 (converted from F32)")
    QString cacheDtype;  // "f32", "f16", "q8_0"
    QString text;        // the file's name, or the built-in sample's
    qint32 context = 0;
    bool scoreAll = false;
    qint64 textTokens = 0;
    qint32 numChunks = 0;
    qint32 chunksDone = 0;  // scored, in text order
    PerplexityEstimate estimate;
    double seconds = 0.0;  // from the chunks' submission to the last one scored
    State state = State::Running;
    QString error;  // why a stopped or failed run ended

    // Context tokens per second over the chunks scored (0 before any).
    double tokensPerSecond() const;
};

QString perplexityStateName(PerplexityRecord::State state);

class PerplexityLog final : public QAbstractTableModel {
    Q_OBJECT

public:
    enum Column { Model, Weights, Cache, Text, Context, Chunks, Scored, Ppl, Error, Change, Seconds, NumColumns };

    explicit PerplexityLog(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    const std::vector<PerplexityRecord>& records() const { return m_records; }
    // The run the others are compared with: the first to finish, or the one setBase chose; -1
    // while none has finished.
    int baseRow() const { return m_baseRow; }
    std::optional<double> basePpl() const;
    // A finished run's change in PPL from the base, in percent; unset for the base itself and for
    // runs that have not finished.
    std::optional<double> changePct(int row) const;
    // Compares every run with finished run `row` from now on; false (nothing changes) for a run
    // that has not finished.
    bool setBase(int row);
    // Forgets every run (the caller makes sure none is running).
    void clear();

    // A new running row (its state, estimate and change are reset); returns its row.
    int start(PerplexityRecord record);
    // Chunks 0..chunksDone-1 are scored; `running`: the estimate over them.
    void progress(int row, qint32 chunksDone, const PerplexityEstimate& running, double seconds);
    // Every chunk scored: the row's final figures (it becomes the base when none has finished
    // before).
    void finish(int row, const PerplexityEstimate& estimate, double seconds);
    // The run ended without every chunk (stopped by the user, or refused/cut short: failed).
    void end(int row, PerplexityRecord::State state, const QString& error, double seconds);

    QJsonArray toJson() const;
    // A header of the field names, then a row per run (numbers unrounded, empty when unknown).
    QString toCsv() const;
    // The field names, in CSV order.
    static QStringList fields();

private:
    void changed(int row);

    std::vector<PerplexityRecord> m_records;
    int m_baseRow = -1;
};

}  // namespace kvscope::ui
