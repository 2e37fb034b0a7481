#include "ui/inspector_palette.h"

#include <cmath>

namespace kvscope::ui {

QColor requestColor(qint64 requestId) {
    // Golden-ratio steps around the hue circle keep neighbouring ids far apart; the band
    // [30, 60) degrees (amber, for shared blocks) is left out.
    const double step = std::fmod(double(requestId) * 0.6180339887498949, 1.0);
    const int hue = (60 + int(step * 330.0)) % 360;
    static constexpr int kSaturation[] = {200, 150, 235};
    static constexpr int kValue[] = {225, 185, 245};
    const auto k = static_cast<std::size_t>(requestId < 0 ? -requestId : requestId);
    return QColor::fromHsv(hue, kSaturation[k % 3], kValue[(k / 3) % 3]);
}

QColor unfilledTint(const QColor& color) {
    return QColor((color.red() + 3 * 255) / 4, (color.green() + 3 * 255) / 4, (color.blue() + 3 * 255) / 4);
}

QColor textOn(const QColor& background) {
    const double luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue();
    return luma > 150 ? QColor(0x20, 0x20, 0x20) : QColor(0xff, 0xff, 0xff);
}

}  // namespace kvscope::ui
