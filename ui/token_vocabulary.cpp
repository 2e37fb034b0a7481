#include "ui/token_vocabulary.h"

#include <stdexcept>

#include "engine/unicode.h"

namespace kvscope::ui {
namespace {

const std::string kNone;

}  // namespace

TokenVocabulary::TokenVocabulary(std::vector<std::string> pieces, std::vector<bool> special)
    : m_pieces(std::move(pieces)), m_special(std::move(special)) {
    if (m_special.size() != m_pieces.size())
        throw std::invalid_argument("TokenVocabulary: one special flag per piece is needed");
}

const std::string& TokenVocabulary::piece(std::int32_t id) const {
    return contains(id) ? m_pieces[std::size_t(id)] : kNone;
}

QString TokenVocabulary::label(std::int32_t id) const {
    if (!contains(id)) return QStringLiteral("#%1").arg(id);
    const std::string& bytes = piece(id);
    if (bytes.empty()) return QStringLiteral("∅");
    if (!utf8_is_valid(bytes)) {
        QString hex;
        for (const char c : bytes) hex += QStringLiteral("<0x%1>").arg(quint8(c), 2, 16, QLatin1Char('0')).toUpper();
        return hex.replace(QStringLiteral("<0X"), QStringLiteral("<0x"));
    }
    QString text = QString::fromUtf8(bytes.data(), qsizetype(bytes.size()));
    if (isSpecial(id)) return text;
    text.replace(QLatin1Char(' '), QStringLiteral("␣"));
    text.replace(QLatin1Char('\n'), QStringLiteral("↵"));
    text.replace(QLatin1Char('\t'), QStringLiteral("⇥"));
    text.replace(QLatin1Char('\r'), QStringLiteral("␍"));
    return text;
}

}  // namespace kvscope::ui
