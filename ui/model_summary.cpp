#include "ui/model_summary.h"

#include <QObject>

namespace kvscope::ui {

QString weightDescription(const ModelSummary& s) {
    if (!s.requantizedTo || s.numRequantized == 0) return s.weightType;
    const QString target =
        QString::fromUtf8(type_name(*s.requantizedTo).data(), qsizetype(type_name(*s.requantizedTo).size()));
    return QObject::tr("%1 (re-quantised from %2)").arg(target, s.weightType);
}

}  // namespace kvscope::ui
