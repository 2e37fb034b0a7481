#include "ui/adapter_combo.h"

#include <QComboBox>
#include <QObject>
#include <algorithm>

namespace kvscope::ui {

bool fillAdapterCombo(QComboBox* combo, const QVector<LoraSummary>& loras) {
    const QString chosen = combo->currentData().toString();
    combo->clear();
    combo->addItem(QObject::tr("base model"), QString());
    for (const LoraSummary& l : loras) combo->addItem(l.name, l.name);
    combo->setCurrentIndex(std::max(0, combo->findData(chosen)));  // gone with the model: the base
    return combo->count() > 1;
}

}  // namespace kvscope::ui
