#include "app/bridge/remote_worker.h"

#include <QTimer>

#include "app/bridge/model_info.h"
#include "app/bridge/remote_completion.h"
#include "app/bridge/remote_perplexity.h"
#include "app/server/kv_snapshot_json.h"
#include "app/server/model_card.h"
#include "app/server/vocabulary_json.h"

namespace kvscope::app {

struct RemoteWorker::Call {
    qint64 id = 0;
    std::unique_ptr<RemoteCompletion> completion;
    std::thread thread;
};

namespace {

constexpr const char* kSnapshotPath = "/v1/kv/snapshot?include_free=false";

QString qs(const std::string& s) {
    return QString::fromStdString(s);
}

// Joins and drops the jobs whose work is done.
template <class Job, class IsDone>
void joinDone(std::list<std::unique_ptr<Job>>& jobs, IsDone isDone) {
    for (auto it = jobs.begin(); it != jobs.end();) {
        if (isDone(**it)) {
            (*it)->thread.join();
            it = jobs.erase(it);
        } else {
            ++it;
        }
    }
}

}  // namespace

RemoteWorker::RemoteWorker(const QElapsedTimer& clock, QObject* parent) : QObject(parent), m_clock(clock) {
    m_timer = new QTimer(this);
    m_timer->setInterval(kPollMs);
    connect(m_timer, &QTimer::timeout, this, &RemoteWorker::poll);
}

RemoteWorker::~RemoteWorker() {
    for (const auto& call : m_calls) call->completion->stop();
    for (const auto& call : m_calls) call->thread.join();
    for (const auto& job : m_tokenizing) job->client->stop();
    for (const auto& job : m_tokenizing) job->thread.join();
}

void RemoteWorker::attach(const kvscope::ui::AttachRequest& request) {
    std::string error;
    std::optional<RemoteEndpoint> endpoint = parse_server_url(request.url.toStdString(), error);
    if (!endpoint) {
        emit attachFailed(qs(error));
        return;
    }
    m_endpoint = *endpoint;
    m_endpoint.api_key = request.apiKey.toStdString();
    m_client = make_client(m_endpoint, 2, 3);
    // One connection for every poll: a busy server keeps answering it (http_server.cpp) rather
    // than queueing each new one behind the streams that hold its threads.
    m_client->set_keep_alive(true);
    const QString url = qs(m_endpoint.url());
    const auto fail = [&](const std::string& why) { emit attachFailed(tr("%1: %2").arg(url, qs(why))); };

    const httplib::Result probe = m_client->Get(kSnapshotPath);
    if (!probe) return fail(describe(probe.error()));
    if (probe->status == 401) return fail(error_message(401, probe->body) + " (give the server's API key)");
    std::shared_ptr<const EngineSnapshot> snapshot;
    if (probe->status == 200) {
        try {
            const server::RemoteKvSnapshot remote = server::kv_snapshot_from_json(nlohmann::json::parse(probe->body));
            m_kind = ServerKind::Kvscope;
            m_summary = ui::ModelSummary{};
            m_summary.name = qs(remote.model);
            m_summary.numBlocks = remote.engine.kv.stats.num_blocks;
            m_summary.blockSize = remote.engine.kv.stats.block_size;
            m_summary.blockBytes = qint64(remote.engine.block_bytes);
            m_summary.contextLength = remote.max_model_len;
        } catch (const std::exception& e) {
            return fail(std::string("/v1/kv/snapshot is not a kvscope snapshot: ") + e.what());
        }
    } else {
        const std::optional<server::PromText> metrics = fetchMetrics(error);
        std::optional<ServerKind> kind = metrics ? metrics_kind(*metrics) : std::nullopt;
        if (!kind) {
            return fail(metrics ? "it answers, but is no kvscope, vLLM or llama.cpp server (no /v1/kv/snapshot, no "
                                  "vllm:* or llamacpp:* metrics)"
                                : error);
        }
        m_kind = *kind;
        m_summary = ui::ModelSummary{};
        const EngineSnapshot s = metrics_snapshot(*metrics, m_kind);
        m_summary.numBlocks = s.kv.stats.num_blocks;
    }
    std::optional<server::ModelCard> card;  // a kvscope server's vocabulary and cache layout
    if (const httplib::Result models = m_client->Get("/v1/models"); models && models->status == 200) {
        const nlohmann::json j = nlohmann::json::parse(models->body, nullptr, false);
        if (j.is_object() && j.contains("data") && j["data"].is_array() && !j["data"].empty() &&
            j["data"][0].is_object() && j["data"][0].contains("id") && j["data"][0]["id"].is_string()) {
            if (m_summary.name.isEmpty()) m_summary.name = qs(j["data"][0]["id"]);
            const nlohmann::json& length =
                j["data"][0].contains("max_model_len") ? j["data"][0]["max_model_len"] : nlohmann::json();
            if (length.is_number_integer())
                m_summary.contextLength = std::max(m_summary.contextLength, length.get<int>());
            card = server::model_card_from_json(j["data"][0]);
        }
    }
    m_summary.source = url;
    m_summary.remoteKind = qs(kind_name(m_kind));
    m_summary.architecture = tr("remote");
    m_summary.chatTemplate = tr("the server's");
    m_summary.backend = tr("%1 server at %2").arg(m_summary.remoteKind, url);
    if (card) describeModel(*card);
    if (m_kind == ServerKind::Kvscope) m_summary.vocabulary = fetchVocabulary();
    if (m_summary.name.isEmpty()) m_summary.name = url;
    emit attached(url, m_summary.remoteKind);
}

// What a kvscope server's /v1/models says of its model: synthetic batches need the vocabulary.
void RemoteWorker::describeModel(const server::ModelCard& card) {
    m_summary.architecture = qs(card.architecture);
    m_summary.weightType = qs(card.weight_type);
    m_summary.chatTemplate = qs(card.chat_template);
    m_summary.backend = tr("%1 server at %2 (%3)").arg(m_summary.remoteKind, m_summary.source, qs(card.backend));
    m_summary.numParams = card.num_params;
    m_summary.numLayers = card.num_layers;
    m_summary.vocabSize = card.vocab_size;
    m_summary.bosId = card.add_bos ? card.bos_token_id : -1;
    m_summary.firstTokenId = card.first_normal_token_id;
    m_summary.blockSize = card.block_size;
    m_summary.config.block_size = card.block_size;
    if (const auto dtype = parse_tensor_type(card.cache_dtype)) m_summary.config.cache_dtype = *dtype;
}

void RemoteWorker::start() {
    emit modelLoaded(m_summary);
    emit pausedChanged(false);
    poll();
    m_timer->start();
}

// A kvscope server's token bytes (GET /v1/kv/vocabulary), which spell the token ids of its chat
// logprobs: with them the chat shows token probabilities as it does on the embedded engine.
// Without (an older server, a damaged answer) the chat shows text only.
std::shared_ptr<const ui::TokenVocabulary> RemoteWorker::fetchVocabulary() {
    const httplib::Result res = m_client->Get("/v1/kv/vocabulary");
    if (!res || res->status != 200) return nullptr;
    std::string error;
    std::optional<server::VocabularyPieces> v =
        server::vocabulary_from_json(nlohmann::json::parse(res->body, nullptr, false), error);
    if (!v || (m_summary.vocabSize > 0 && std::int64_t(v->pieces.size()) != m_summary.vocabSize)) return nullptr;
    return std::make_shared<const ui::TokenVocabulary>(std::move(v->pieces), std::move(v->special));
}

std::optional<server::PromText> RemoteWorker::fetchMetrics(std::string& error) {
    const httplib::Result res = m_client->Get("/metrics");
    if (!res) {
        error = describe(res.error());
        return std::nullopt;
    }
    if (res->status != 200) {
        error = "/metrics: " + error_message(res->status, res->body);
        return std::nullopt;
    }
    try {
        return server::PromText::parse(res->body);
    } catch (const server::PromParseError& e) {
        error = std::string("/metrics: ") + e.what();
        return std::nullopt;
    }
}

std::shared_ptr<const EngineSnapshot> RemoteWorker::fetchSnapshot(std::string& error) {
    std::optional<server::PromText> metrics = fetchMetrics(error);
    if (!metrics) return nullptr;
    if (m_kind != ServerKind::Kvscope) {
        EngineSnapshot snapshot = metrics_snapshot(*metrics, m_kind);
        m_latency.update(*metrics, snapshot.metrics);
        return std::make_shared<const EngineSnapshot>(std::move(snapshot));
    }
    const httplib::Result res = m_client->Get(kSnapshotPath);
    if (!res) {
        error = describe(res.error());
        return nullptr;
    }
    if (res->status != 200) {
        error = "/v1/kv/snapshot: " + error_message(res->status, res->body);
        return nullptr;
    }
    try {
        server::RemoteKvSnapshot remote = server::kv_snapshot_from_json(nlohmann::json::parse(res->body));
        m_latency.update(*metrics, remote.engine.metrics);
        return std::make_shared<const EngineSnapshot>(std::move(remote.engine));
    } catch (const std::exception& e) {
        error = std::string("/v1/kv/snapshot: ") + e.what();
        return nullptr;
    }
}

void RemoteWorker::poll() {
    reap();
    std::string error;
    std::shared_ptr<const EngineSnapshot> snapshot = fetchSnapshot(error);
    report(error);
    if (snapshot) emit snapshotReady(std::move(snapshot), double(m_clock.elapsed()) / 1000.0);
}

void RemoteWorker::report(const std::string& error) {
    const QString message = error.empty() ? QString() : tr("%1: %2").arg(qs(m_endpoint.url()), qs(error));
    if (message == m_lastError) return;
    m_lastError = message;
    emit answeringChanged(message);
    emit notice(message.isEmpty() ? tr("%1 answers again.").arg(qs(m_endpoint.url())) : message);
}

void RemoteWorker::launch(quint64 tag, const std::string& path, nlohmann::json body) {
    reap();
    if (const std::string model = requestModel(); !model.empty()) body["model"] = model;
    auto call = std::make_unique<Call>();
    call->id = m_nextId++;
    call->completion = std::make_unique<RemoteCompletion>(m_endpoint, path, std::move(body));
    const qint64 id = call->id;
    RemoteCompletion* completion = call->completion.get();
    // Signals are emitted from the call's thread; the Session's connections are queued.
    call->thread = std::thread([this, completion, tag, id] {
        completion->run(
            [this, completion, tag, id](const std::string& error) {
                if (error.empty()) {
                    emit requestAccepted(tag, id);
                    if (const std::optional<RequestId> served = completion->serverId())
                        emit requestServedAs(id, *served);
                } else {
                    emit requestRejected(tag, qs(error));
                }
            },
            [this, id](RequestOutput output) {
                output.id = id;
                emit outputsReady({std::move(output)});
            });
    });
    m_calls.push_back(std::move(call));
}

void RemoteWorker::preparePerplexity(const kvscope::ui::PerplexityText& request) {
    reap();
    if (m_kind == ServerKind::LlamaCpp) {
        ui::PerplexityChunks answer;
        answer.id = request.id;
        answer.error =
            tr("llama.cpp's server gives no prompt logprobs over its OpenAI API: perplexity needs a "
               "kvscope or vLLM server (or llama-perplexity on the server's machine).");
        emit perplexityPrepared(answer);
        return;
    }
    const std::string model = requestModel();
    auto job = std::make_unique<Tokenizing>();
    job->client = make_client(m_endpoint, 2, 120);  // a long text may take the server a while
    Tokenizing* raw = job.get();
    // Emitted from the job's thread; the Session's connection is queued.
    job->thread = std::thread([this, raw, model, request] {
        emit perplexityPrepared(remote_perplexity_chunks(*raw->client, model, request));
        raw->done = true;
    });
    m_tokenizing.push_back(std::move(job));
}

std::string RemoteWorker::requestModel() const {
    return !m_summary.name.isEmpty() && m_summary.name != m_summary.source ? m_summary.name.toStdString()
                                                                           : std::string();
}

void RemoteWorker::reap() {
    joinDone(m_tokenizing, [](const Tokenizing& job) { return job.done.load(); });
    joinDone(m_calls, [](const Call& call) { return call.completion->done(); });
}

void RemoteWorker::submit(quint64 tag, const kvscope::Request& request) {
    launch(tag, "/v1/completions", completion_body(request));
}

void RemoteWorker::submitChat(quint64 tag, const kvscope::ui::ChatRequest& request) {
    launch(tag, "/v1/chat/completions", chat_body(request));
}

void RemoteWorker::abortRequest(qint64 requestId) {
    for (const auto& call : m_calls) {
        if (call->id == requestId) call->completion->stop();
    }
}

void RemoteWorker::abortAll() {
    for (const auto& call : m_calls) call->completion->stop();
}

void RemoteWorker::setPaused(bool) {
    emit pausedChanged(false);
    emit notice(tr("A server cannot be paused from the workbench."));
}

void RemoteWorker::resetPrefixCache() {
    emit prefixCacheReset(false, tr("A server's prefix cache cannot be reset from the workbench."));
}

void RemoteWorker::loadModel(const kvscope::ui::LoadRequest&) {
    emit modelLoadFailed(
        tr("The workbench follows %1: detach (File ▸ Detach from Server) to load a model into the embedded engine.")
            .arg(qs(m_endpoint.url())));
}

void RemoteWorker::inspectModel(const QString& source) {
    emit modelInspected(readModelFileInfo(source));
}

void RemoteWorker::requestBlockTokens(qint32 blockId) {
    ui::BlockTokens answer;
    answer.blockId = blockId;
    answer.pieces << tr("(a server does not say what its blocks hold)");
    emit blockTokensReady(answer);
}

}  // namespace kvscope::app
