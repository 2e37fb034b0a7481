#pragma once
// Files written atomically: into a temporary file beside the target, renamed over it only once
// everything was written (QSaveFile), so a failed export never leaves half a file behind.

#include <QImage>
#include <QString>
#include <functional>

class QIODevice;

namespace kvscope::ui {

// Runs `write` on the temporary file and commits it. Returns "" on success, else a one-line
// message saying which path could not be written and why.
QString writeAtomically(const QString& path, const std::function<bool(QIODevice&)>& write);
QString writeAtomically(const QString& path, const QByteArray& bytes);
// PNG (or the format the suffix names).
QString saveImageAtomically(const QString& path, const QImage& image);

}  // namespace kvscope::ui
