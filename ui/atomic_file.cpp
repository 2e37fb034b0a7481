#include "ui/atomic_file.h"

#include <QFileInfo>
#include <QObject>
#include <QSaveFile>

namespace kvscope::ui {

QString writeAtomically(const QString& path, const std::function<bool(QIODevice&)>& write) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly)) {
        return QObject::tr("%1: cannot write here (%2); choose another folder").arg(path, file.errorString());
    }
    // flush() here: QSaveFile::commit() does not report a buffered write that fails as it
    // flushes (a full disk left an empty file "committed").
    if (!write(file) || !file.flush()) {
        file.cancelWriting();
        return QObject::tr("%1: writing failed (%2); check the free space and try again")
            .arg(path, file.error() != QFileDevice::NoError ? file.errorString() : QObject::tr("encoder error"));
    }
    if (!file.commit()) {
        return QObject::tr("%1: cannot finish writing (%2); check the folder's permissions and free space")
            .arg(path, file.errorString());
    }
    return {};
}

QString writeAtomically(const QString& path, const QByteArray& bytes) {
    return writeAtomically(path, [&](QIODevice& out) { return out.write(bytes) == bytes.size(); });
}

QString saveImageAtomically(const QString& path, const QImage& image) {
    QByteArray format = QFileInfo(path).suffix().toLower().toLatin1();
    if (format.isEmpty()) format = "png";
    return writeAtomically(path, [&](QIODevice& out) { return image.save(&out, format.constData()); });
}

}  // namespace kvscope::ui
