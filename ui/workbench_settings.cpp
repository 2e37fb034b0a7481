#include "ui/workbench_settings.h"

#include <QFile>
#include <QFileInfo>
#include <QObject>

#include "engine/model_load_options.h"
#include "kernels/cuda/cuda_backend.h"
#include "resources/embedded_model.h"
#include "ui/model_summary.h"

namespace kvscope::ui {
namespace {

// An integer setting in [lo, hi], else `fallback`.
qint64 readInt(QSettings& s, const QString& key, qint64 fallback, qint64 lo, qint64 hi) {
    bool ok = false;
    const qint64 v = s.value(key).toLongLong(&ok);
    return ok && v >= lo && v <= hi ? v : fallback;
}

bool readBool(QSettings& s, const QString& key, bool fallback) {
    const QVariant v = s.value(key);
    if (!v.isValid()) return fallback;
    const QString text = v.toString().toLower();
    if (text == QLatin1String("true") || text == QLatin1String("1")) return true;
    if (text == QLatin1String("false") || text == QLatin1String("0")) return false;
    return fallback;
}

}  // namespace

QString embeddedModelSource() {
    return QString::fromUtf8(kEmbeddedModelName.data(), qsizetype(kEmbeddedModelName.size()));
}

QString weightConversionText(const LoadRequest& request) {
    if (!request.weightType) return {};
    return QString::fromStdString(WeightConversion{*request.weightType, request.kQuantMedium}.name());
}

bool setWeightConversion(LoadRequest& request, const QString& name) {
    if (name.isEmpty()) {
        request.weightType.reset();
        request.kQuantMedium = false;
        return true;
    }
    const std::optional<WeightConversion> c = parse_weight_conversion(name.toStdString());
    if (!c) return false;
    request.weightType = c->base;
    request.kQuantMedium = c->k_quant_medium;
    return true;
}

QStringList validateLoadRequest(const LoadRequest& request) {
    QStringList problems;
    if (request.source.trimmed().isEmpty()) problems << QObject::tr("choose a model file (or the embedded model)");
    if (request.weightType && !is_requantization_target(*request.weightType))
        problems << QObject::tr("weights can be re-quantised to %1 only")
                        .arg(QString::fromStdString(requantization_target_list()));
    if (request.kQuantMedium && request.weightType != TensorType::Q4_K && request.weightType != TensorType::Q5_K)
        problems << QObject::tr("the _M mixture is made over Q4_K or Q5_K weights only");
    for (const std::string& p : request.config.validate()) problems << QString::fromStdString(p);
    return problems;
}

WorkbenchSettings WorkbenchSettings::read(QSettings& s) {
    WorkbenchSettings out;
    const EngineConfig defaults;
    EngineConfig& c = out.load.config;
    c.block_size = int(readInt(s, "cache/blockSize", defaults.block_size, 1, 1024));
    c.kv_cache_bytes = readInt(s, "cache/budgetMiB", defaults.kv_cache_bytes >> 20, 1, 1 << 20) << 20;
    const qint64 blocks = readInt(s, "cache/numBlocks", 0, 0, 1 << 24);
    c.num_kv_blocks = blocks > 0 ? std::optional<std::int32_t>(std::int32_t(blocks)) : std::nullopt;
    const auto dtype = parse_tensor_type(s.value("cache/dtype").toString().toStdString());
    c.cache_dtype = dtype ? *dtype : defaults.cache_dtype;
    c.enable_prefix_caching = readBool(s, "cache/prefixCaching", defaults.enable_prefix_caching);
    c.max_num_seqs = int(readInt(s, "scheduler/maxNumSeqs", defaults.max_num_seqs, 1, 1 << 16));
    c.max_num_batched_tokens =
        int(readInt(s, "scheduler/maxBatchedTokens", defaults.max_num_batched_tokens, 1, 1 << 24));
    c.enable_chunked_prefill = readBool(s, "scheduler/chunkedPrefill", defaults.enable_chunked_prefill);
    c.max_model_len = int(readInt(s, "scheduler/maxModelLen", defaults.max_model_len, 0, 1 << 24));
    c.num_threads = int(readInt(s, "backend/threads", defaults.num_threads, 0, 1024));
    c.backend = parse_backend_kind(s.value("backend/kind").toString().toStdString()).value_or(defaults.backend);
    // CUDA chosen on a machine with a GPU, read on one without (where the engine would refuse it):
    // start on auto, as a remembered model that is gone falls back to the embedded one.
    if (c.backend == BackendKind::Cuda && !cuda_device_info().available) c.backend = BackendKind::Auto;
    c.preemption_mode = s.value("scheduler/preemption").toString() == QStringLiteral("swap") ? PreemptionMode::Swap
                                                                                           : PreemptionMode::Recompute;
    if (!c.validate().empty()) c = defaults;

    setWeightConversion(out.load, s.value("model/weightType").toString());  // an unknown name: as stored
    const QString source = s.value("model/source").toString();
    const bool usable = source == embeddedModelSource() || (!source.isEmpty() && QFileInfo(source).isFile());
    out.load.source = usable ? source : embeddedModelSource();
    for (const QString& r : s.value("model/recent").toStringList()) {
        if (!r.isEmpty() && !out.recentModels.contains(r) && out.recentModels.size() < kMaxRecent)
            out.recentModels << r;
    }
    return out;
}

void WorkbenchSettings::write(QSettings& s) const {
    const EngineConfig& c = load.config;
    s.setValue("model/source", load.source);
    s.setValue("model/weightType", weightConversionText(load));
    s.setValue("model/recent", recentModels);
    s.setValue("cache/blockSize", c.block_size);
    s.setValue("cache/budgetMiB", qint64(c.kv_cache_bytes >> 20));
    s.setValue("cache/numBlocks", c.num_kv_blocks ? *c.num_kv_blocks : 0);
    s.setValue("cache/dtype", tensorTypeText(c.cache_dtype));
    s.setValue("cache/prefixCaching", c.enable_prefix_caching);
    s.setValue("scheduler/maxNumSeqs", c.max_num_seqs);
    s.setValue("scheduler/maxBatchedTokens", c.max_num_batched_tokens);
    s.setValue("scheduler/chunkedPrefill", c.enable_chunked_prefill);
    s.setValue("scheduler/maxModelLen", c.max_model_len);
    s.setValue("backend/threads", c.num_threads);
    s.setValue("backend/kind", QString::fromUtf8(backend_kind_name(c.backend).data()));
    s.setValue("scheduler/preemption",
               c.preemption_mode == PreemptionMode::Swap ? QStringLiteral("swap") : QStringLiteral("recompute"));
}

QString setAsideCorruptSettings(QSettings& settings) {
    if (settings.status() != QSettings::FormatError) return {};
    const QString file = settings.fileName();
    const QString aside = file + QStringLiteral(".corrupt");
    QFile::remove(aside);
    if (!QFile::rename(file, aside)) {
        return QObject::tr("%1: the settings file is corrupt and cannot be moved aside; delete it to save settings")
            .arg(file);
    }
    settings.sync();  // reads the (now absent) file again: an empty store that saves normally
    return QObject::tr("%1: the settings file was corrupt; it was kept as %2 and defaults are used").arg(file, aside);
}

void WorkbenchSettings::addRecent(const QString& source) {
    recentModels.removeAll(source);
    recentModels.prepend(source);
    while (recentModels.size() > kMaxRecent) recentModels.removeLast();
}

}  // namespace kvscope::ui
