#pragma once
// What the workbench shows about the loaded model and its engine: a plain value.

#include <QMetaType>
#include <QString>

namespace kvscope::ui {

struct ModelSummary {
    QString source;  // path, or the embedded model's name
    QString name;
    QString architecture;
    QString backend;
    qint64 numParams = 0;
    qint32 numLayers = 0;
    qint32 numBlocks = 0;
    qint32 blockSize = 0;
    qint32 contextLength = 0;
};

}  // namespace kvscope::ui

Q_DECLARE_METATYPE(kvscope::ui::ModelSummary)
