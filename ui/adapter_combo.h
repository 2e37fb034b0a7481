#pragma once
// The Adapter box of the chat and of the batch queue: "base model" (data "") and each loaded
// LoRA adapter (data: its name).

#include <QVector>

#include "ui/model_summary.h"

class QComboBox;

namespace kvscope::ui {

// Lists `loras` in `combo`, keeping the current choice while that adapter is still loaded (the
// base model otherwise). Returns whether any adapter is listed (the box is worth showing).
bool fillAdapterCombo(QComboBox* combo, const QVector<LoraSummary>& loras);

}  // namespace kvscope::ui
