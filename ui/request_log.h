#pragma once
// Every request of the session (chat and batch), one row each: the per-request table of the batch
// queue (through a filter on its source) and of exports. Rows are added when a panel submits, and
// updated from acceptances, streamed outputs (tokens, final timings) and full snapshots (state,
// blocks held, preemptions), on the UI thread.

#include <QAbstractTableModel>
#include <QHash>
#include <QString>
#include <optional>
#include <vector>

#include "engine/request.h"
#include "engine/snapshot.h"

namespace kvscope::ui {

// NotSent: a panel had it but never sent it (a cancelled batch's later arrivals).
enum class RequestState { Submitted, Waiting, Running, Preempted, Finished, Aborted, Rejected, NotSent };
QString requestStateName(RequestState state);

struct RequestRecord {
    quint64 tag = 0;  // the workbench's own number of the request, unique in the session
    qint64 id = -1;   // the engine's (attached: the workbench's call id), -1 until accepted
    QString source;  // "chat 1", "batch 2"
    RequestState state = RequestState::Submitted;
    qint32 numSamples = 1;
    // Known when sent as tokens (a synthetic batch's) or tokenised (an embedded chat turn's), else
    // from snapshots or the end; none for a text prompt or a server's chat turn that was refused.
    std::optional<qint32> promptTokens;
    qint32 cachedTokens = 0;  // prompt tokens served by the prefix cache
    qint32 outputTokens = 0;  // over all samples
    qint32 blocksHeld = 0;    // over its sequences, as of the last full snapshot
    qint32 preemptions = 0;
    std::optional<double> ttftS;  // time to first token (engine timings, when finished)
    std::optional<double> tpotS;  // time per output token after the first
    std::optional<double> e2eS;
    QString finishReason;  // "stop", "length", "abort"; the rejection message when rejected

    bool done() const {
        return state == RequestState::Finished || state == RequestState::Aborted || state == RequestState::Rejected ||
               state == RequestState::NotSent;
    }
};

struct UnsentRequest {
    qint32 numSamples = 1;
    std::optional<qint32> promptTokens;
};

// The count of the prompt tokens a request carries; none when it carries text (the engine
// tokenises it).
std::optional<qint32> promptTokensOf(const Request& request);

class RequestLog final : public QAbstractTableModel {
    Q_OBJECT

public:
    // A sort key per column (numbers as numbers; states running first, finished last).
    static constexpr int SortRole = Qt::UserRole;

    enum Column {
        Id,
        Source,
        State,
        PromptTokens,
        CachedTokens,
        OutputTokens,
        Ttft,
        Tpot,
        Blocks,
        Preemptions,
        Finish,
        NumColumns
    };

    explicit RequestLog(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = {}) const override;
    int columnCount(const QModelIndex& parent = {}) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    const std::vector<RequestRecord>& records() const { return m_records; }
    const RequestRecord* findById(qint64 id) const;
    int rowOfId(qint64 id) const { return m_rowById.value(id, -1); }

    void added(quint64 tag, const QString& source, qint32 numSamples, std::optional<qint32> promptTokens);
    // Requests never sent, one row each (tags from `firstTag` on), in one insertion.
    void addedNotSent(quint64 firstTag, const QString& source, const std::vector<UnsentRequest>& requests);
    void tokenized(quint64 tag, qint32 promptTokens);
    void accepted(quint64 tag, qint64 id);
    void rejected(quint64 tag, const QString& message);
    void output(const RequestOutput& output);
    void snapshot(const EngineSnapshot& snapshot);
    void clear();

private:
    static QVariant sortKey(const RequestRecord& record, int column);
    void changed(int row);

    std::vector<RequestRecord> m_records;
    QHash<quint64, int> m_rowByTag;
    QHash<qint64, int> m_rowById;
};

}  // namespace kvscope::ui
