#include "ui/batch_workload.h"

#include <QFile>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonParseError>

#include "engine/error.h"

namespace kvscope::ui {

std::vector<BatchItem> readPromptsFile(const QString& path, const SamplingParams& defaults) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly | QIODevice::Text)) {
        throw FileError(path.toStdString() + ": cannot open the prompts file (" + file.errorString().toStdString() +
                        "); check the path");
    }
    std::vector<BatchItem> items;
    int number = 0;
    while (!file.atEnd()) {
        const QByteArray line = file.readLine().trimmed();
        ++number;
        if (line.isEmpty()) continue;
        const std::string where = path.toStdString() + ":" + std::to_string(number) + ": ";
        QJsonParseError error;
        const QJsonDocument doc = QJsonDocument::fromJson(line, &error);
        if (error.error != QJsonParseError::NoError) {
            throw FileError(where + "not valid JSON (" + error.errorString().toStdString() +
                            "); each line must be {\"prompt\": \"...\"}");
        }
        const QJsonObject o = doc.object();
        if (!doc.isObject() || !o.value("prompt").isString()) {
            throw FileError(where + "each line must be a JSON object with a string \"prompt\"");
        }
        BatchItem item;
        item.request.prompt = o.value("prompt").toString().toStdString();
        SamplingParams& p = item.request.params;
        p = defaults;
        auto number_field = [&](const char* key, auto& field) {
            const QJsonValue v = o.value(QLatin1String(key));
            if (v.isUndefined() || v.isNull()) return;
            if (!v.isDouble()) throw FileError(where + "\"" + key + "\" must be a number");
            field = static_cast<std::remove_reference_t<decltype(field)>>(v.toDouble());
        };
        number_field("max_tokens", p.max_tokens);
        number_field("temperature", p.temperature);
        number_field("top_p", p.top_p);
        number_field("top_k", p.top_k);
        number_field("n", p.n);
        if (o.value("seed").isDouble()) p.seed = std::uint64_t(o.value("seed").toDouble());
        const QJsonValue lora = o.value("lora");
        if (!lora.isUndefined() && !lora.isNull()) {
            if (!lora.isString()) throw FileError(where + "\"lora\" must be a string: a loaded adapter's name");
            item.request.lora = lora.toString().toStdString();
        }
        items.push_back(std::move(item));
    }
    if (items.empty()) throw FileError(path.toStdString() + ": holds no prompt; write one {\"prompt\": ...} per line");
    return items;
}

namespace {

// Short, frequent words: one token each for the usual BPE and SentencePiece vocabularies.
constexpr const char* kWords[kTextWords] = {
    "the",   "of",   "and",   "to",   "in",    "is",    "was",   "for",   "on",    "with",  "as",    "at",    "by",
    "from",  "his",  "her",   "they", "we",    "you",   "this",  "that",  "had",   "have",  "not",   "but",   "all",
    "one",   "two",  "time",  "day",  "year",  "way",   "man",   "world", "life",  "hand",  "part",  "child", "eye",
    "place", "work", "week",  "case", "point", "home",  "water", "room",  "house", "story", "book",  "word",  "side",
    "good",  "new",  "first", "last", "long",  "great", "small", "old",   "big",   "high",  "light", "open"};

}  // namespace

std::vector<BatchItem> syntheticTextBatch(const WorkloadSpec& spec, double temperature) {
    std::vector<BatchItem> items = syntheticBatch(spec, kTextWords, 0, -1, temperature);
    for (BatchItem& item : items) {
        std::string text;
        for (const std::int32_t id : item.request.prompt_token_ids) {
            if (!text.empty()) text += ' ';
            text += kWords[id];
        }
        item.request.prompt = std::move(text);
        item.request.prompt_token_ids.clear();
    }
    return items;
}

std::vector<BatchItem> syntheticBatch(const WorkloadSpec& spec, std::int32_t vocabSize, std::int32_t firstTokenId,
                                      std::int32_t bosId, double temperature) {
    std::vector<BatchItem> items;
    for (WorkloadRequest& w : generate_workload(spec, vocabSize, firstTokenId, bosId)) {
        BatchItem item;
        item.arrivalS = w.arrival_s;
        item.request.prompt_token_ids = std::move(w.prompt_token_ids);
        item.request.params.max_tokens = w.max_tokens;
        item.request.params.ignore_eos = true;
        item.request.params.temperature = temperature;
        item.request.params.seed = spec.seed * 1000003ull + std::uint64_t(w.index);
        items.push_back(std::move(item));
    }
    return items;
}

}  // namespace kvscope::ui
