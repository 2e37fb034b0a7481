#include "ui/request_log.h"

#include <QBrush>
#include <QColor>
#include <algorithm>
#include <unordered_map>

namespace kvscope::ui {

QString requestStateName(RequestState state) {
    switch (state) {
        case RequestState::Submitted:
            return RequestLog::tr("submitted");
        case RequestState::Waiting:
            return RequestLog::tr("waiting");
        case RequestState::Running:
            return RequestLog::tr("running");
        case RequestState::Preempted:
            return RequestLog::tr("preempted");
        case RequestState::Finished:
            return RequestLog::tr("finished");
        case RequestState::Aborted:
            return RequestLog::tr("aborted");
        case RequestState::Rejected:
            return RequestLog::tr("rejected");
        case RequestState::NotSent:
            return RequestLog::tr("not sent");
    }
    return {};
}

std::optional<qint32> promptTokensOf(const Request& request) {
    if (request.prompt_token_ids.empty()) return std::nullopt;
    return qint32(request.prompt_token_ids.size());
}

RequestLog::RequestLog(QObject* parent) : QAbstractTableModel(parent) {}

int RequestLog::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : int(m_records.size());
}

int RequestLog::columnCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : NumColumns;
}

namespace {

QVariant millis(const std::optional<double>& seconds) {
    if (!seconds) return {};
    return QString::number(*seconds * 1000.0, 'f', *seconds < 0.1 ? 2 : 1);
}

}  // namespace

QVariant RequestLog::sortKey(const RequestRecord& r, int column) {
    auto seconds = [](const std::optional<double>& s) { return s ? *s : -1.0; };
    switch (column) {
        case Id:
            return r.id;
        case Source:
            return r.source;
        case State: {                                               // then by id within a state
            static constexpr int kOrder[] = {3, 2, 0, 1, 4, 5, 6, 7};  // running, preempted, waiting, submitted, done
            return (qlonglong(kOrder[int(r.state)]) << 48) + std::clamp<qlonglong>(r.id + 1, 0, (1ll << 48) - 1);
        }
        case PromptTokens:
            return r.promptTokens.value_or(-1);
        case CachedTokens:
            return r.cachedTokens;
        case OutputTokens:
            return r.outputTokens;
        case Ttft:
            return seconds(r.ttftS);
        case Tpot:
            return seconds(r.tpotS);
        case Blocks:
            return r.blocksHeld;
        case Preemptions:
            return r.preemptions;
        case Finish:
            return r.finishReason;
    }
    return {};
}

QVariant RequestLog::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.row() >= rowCount()) return {};
    const RequestRecord& r = m_records[std::size_t(index.row())];
    if (role == Qt::TextAlignmentRole) {
        return index.column() == Source || index.column() == State || index.column() == Finish
                   ? QVariant(Qt::AlignLeft | Qt::AlignVCenter)
                   : QVariant(Qt::AlignRight | Qt::AlignVCenter);
    }
    if (role == Qt::ForegroundRole && index.column() == State) {
        switch (r.state) {
            case RequestState::Running:
                return QBrush(QColor(0x1b, 0x7a, 0x3a));
            case RequestState::Preempted:
                return QBrush(QColor(0xb2, 0x5d, 0x00));
            case RequestState::Rejected:
            case RequestState::Aborted:
                return QBrush(QColor(0xb0, 0x20, 0x20));
            case RequestState::NotSent:
                return QBrush(QColor(0x80, 0x80, 0x80));
            default:
                return {};
        }
    }
    if (role == Qt::ToolTipRole && index.column() == Finish) return r.finishReason;
    if (role == SortRole) return sortKey(r, index.column());
    if (role != Qt::DisplayRole) return {};
    switch (index.column()) {
        case Id:
            return r.id >= 0 ? QVariant(r.id) : QVariant(QStringLiteral("–"));
        case PromptTokens:
            return r.promptTokens ? QVariant(*r.promptTokens) : QVariant(QStringLiteral("–"));
        case Source:
            return r.source;
        case State:
            return requestStateName(r.state);
        case Ttft:
            return millis(r.ttftS);
        case Tpot:
            return millis(r.tpotS);
        default:  // the rest show their sort key as it is
            return sortKey(r, index.column());
    }
}

QVariant RequestLog::headerData(int section, Qt::Orientation orientation, int role) const {
    if (orientation != Qt::Horizontal) return {};
    if (role == Qt::ToolTipRole) {
        switch (section) {
            case Id:
                return tr("The engine's request id");
            case PromptTokens:
                return tr("Prompt tokens");
            case CachedTokens:
                return tr("Prompt tokens served from the prefix cache");
            case OutputTokens:
                return tr("Tokens generated, over all samples");
            case Preemptions:
                return tr("Times the request was preempted (its blocks freed, recomputed later)");
            case Ttft:
                return tr("Time to first token, milliseconds (engine timings, when finished)");
            case Tpot:
                return tr("Time per output token after the first, milliseconds");
            case Blocks:
                return tr("KV blocks held by the request's sequences (shared blocks count once per sequence)");
            default:
                return {};
        }
    }
    if (role != Qt::DisplayRole) return {};
    static const char* names[] = {"Request", "Source",  "State",  "Prompt",    "Cached", "Output",
                                  "TTFT ms", "TPOT ms", "Blocks", "Preempted", "Finish"};
    return section >= 0 && section < NumColumns ? tr(names[section]) : QVariant();
}

const RequestRecord* RequestLog::findById(qint64 id) const {
    const int row = rowOfId(id);
    return row < 0 ? nullptr : &m_records[std::size_t(row)];
}

void RequestLog::changed(int row) {
    emit dataChanged(index(row, 0), index(row, NumColumns - 1));
}

void RequestLog::added(quint64 tag, const QString& source, qint32 numSamples, std::optional<qint32> promptTokens) {
    const int row = rowCount();
    beginInsertRows({}, row, row);
    RequestRecord r;
    r.tag = tag;
    r.source = source;
    r.numSamples = numSamples;
    r.promptTokens = promptTokens;
    m_records.push_back(r);
    m_rowByTag.insert(tag, row);
    endInsertRows();
}

void RequestLog::addedNotSent(quint64 firstTag, const QString& source, const std::vector<UnsentRequest>& requests) {
    if (requests.empty()) return;
    const int first = rowCount();
    beginInsertRows({}, first, first + int(requests.size()) - 1);
    for (std::size_t i = 0; i < requests.size(); ++i) {
        RequestRecord r;
        r.tag = firstTag + i;
        r.source = source;
        r.state = RequestState::NotSent;
        r.numSamples = requests[i].numSamples;
        r.promptTokens = requests[i].promptTokens;
        m_rowByTag.insert(r.tag, int(m_records.size()));
        m_records.push_back(std::move(r));
    }
    endInsertRows();
}

void RequestLog::tokenized(quint64 tag, qint32 promptTokens) {
    const int row = m_rowByTag.value(tag, -1);
    if (row < 0) return;
    m_records[std::size_t(row)].promptTokens = promptTokens;
    changed(row);
}

void RequestLog::accepted(quint64 tag, qint64 id) {
    const int row = m_rowByTag.value(tag, -1);
    if (row < 0) return;
    RequestRecord& r = m_records[std::size_t(row)];
    r.id = id;
    if (r.state == RequestState::Submitted) r.state = RequestState::Waiting;
    m_rowById.insert(id, row);
    changed(row);
}

void RequestLog::rejected(quint64 tag, const QString& message) {
    const int row = m_rowByTag.value(tag, -1);
    if (row < 0) return;
    RequestRecord& r = m_records[std::size_t(row)];
    r.state = RequestState::Rejected;
    r.finishReason = message;
    changed(row);
}

void RequestLog::output(const RequestOutput& out) {
    const int row = rowOfId(out.id);
    if (row < 0) return;
    RequestRecord& r = m_records[std::size_t(row)];
    for (const SequenceOutput& s : out.samples) {
        r.outputTokens += qint32(s.new_token_ids.size());
        if (s.finished() && r.finishReason.isEmpty())
            r.finishReason = QString::fromUtf8(finish_reason_name(s.finish_reason).data());
    }
    if (r.state == RequestState::Waiting && r.outputTokens > 0) r.state = RequestState::Running;
    if (out.finished) {
        const RequestTimings& t = out.timings;
        const bool aborted = std::any_of(out.samples.begin(), out.samples.end(), [](const SequenceOutput& s) {
            return s.finish_reason == FinishReason::abort;
        });
        r.state = aborted ? RequestState::Aborted : RequestState::Finished;
        if (t.num_prompt_tokens > 0) r.promptTokens = t.num_prompt_tokens;  // 0: not said (no prompt is empty)
        r.cachedTokens = t.num_cached_tokens;
        r.outputTokens = t.num_generation_tokens;
        r.preemptions = t.num_preemptions;
        r.blocksHeld = 0;
        r.e2eS = t.e2e_latency;
        if (t.num_generation_tokens > 0) r.ttftS = t.time_to_first_token;
        const int perSample = r.numSamples > 0 ? t.num_generation_tokens / r.numSamples : t.num_generation_tokens;
        if (perSample > 1) r.tpotS = t.decode_time / double(perSample - 1);
    }
    changed(row);
}

void RequestLog::snapshot(const EngineSnapshot& snap) {
    if (snap.detail != SnapshotDetail::Full) return;
    struct Live {
        qint32 blocks = 0, preemptions = 0, prompt = 0, cached = 0;
        bool running = false, preempted = false;
    };
    std::unordered_map<qint64, Live> live;
    for (const SequenceSnapshot& s : snap.sequences) {
        Live& l = live[s.request_id];
        if (const KvSequenceInfo* kv = snap.kv.find_sequence(s.id)) l.blocks += kv->num_blocks;
        l.preemptions += s.num_preemptions;
        l.prompt = s.num_prompt_tokens;
        if (s.sample_index == 0) l.cached = s.num_cached_tokens;
        l.running = l.running || s.status == SequenceStatus::Running;
        l.preempted = l.preempted || (s.status == SequenceStatus::Waiting && s.num_preemptions > 0);
    }
    int first = -1, last = -1;
    for (const auto& [id, l] : live) {
        const int row = rowOfId(id);
        if (row < 0) continue;
        RequestRecord& r = m_records[std::size_t(row)];
        if (r.done()) continue;
        r.blocksHeld = l.blocks;
        r.preemptions = l.preemptions;
        r.promptTokens = l.prompt;
        r.cachedTokens = l.cached;
        r.state = l.running ? RequestState::Running : (l.preempted ? RequestState::Preempted : RequestState::Waiting);
        first = first < 0 ? row : std::min(first, row);
        last = std::max(last, row);
    }
    if (first >= 0) emit dataChanged(index(first, 0), index(last, NumColumns - 1));
}

void RequestLog::clear() {
    beginResetModel();
    m_records.clear();
    m_rowByTag.clear();
    m_rowById.clear();
    endResetModel();
}

}  // namespace kvscope::ui
