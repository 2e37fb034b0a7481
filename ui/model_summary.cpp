#include "ui/model_summary.h"

#include <QObject>

namespace kvscope::ui {

QString tensorTypeText(TensorType type) {
    const std::string_view name = type_name(type);
    return QString::fromUtf8(name.data(), qsizetype(name.size()));
}

QString weightDescription(const ModelSummary& s) {
    if (!s.requantizedTo) return s.weightType;
    const QString target = !s.requantizedName.isEmpty() ? s.requantizedName : tensorTypeText(*s.requantizedTo);
    // Asked for, but no row fitted the type's blocks (64-wide rows and the K-quants' 256): say so
    // rather than show the stored type as if nothing had been asked.
    if (s.numRequantized == 0) return QObject::tr("%1 (no weight fits %2's blocks)").arg(s.weightType, target);
    return QObject::tr("%1 (re-quantised from %2)").arg(target, s.weightType);
}

}  // namespace kvscope::ui
