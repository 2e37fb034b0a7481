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

QColor adapterColor(std::int32_t lora) {
    if (lora < 0) return QColor(0x3b, 0x6e, 0xb4);  // the base model: blue
    static constexpr QRgb kAdapters[] = {0xd6336c, 0x2b9348, 0x7b2cbf, 0xe8590c,
                                         0x0b9aa8, 0x8f5b1e, 0x94c11f, 0xf06595};
    constexpr std::int32_t kNum = std::int32_t(sizeof kAdapters / sizeof kAdapters[0]);
    return lora < kNum ? QColor(kAdapters[lora]) : requestColor(lora);
}

QColor cachedAdapterColor(std::int32_t lora) {
    const QColor c = adapterColor(lora), grey = InspectorPalette::cached();
    return QColor((c.red() + grey.red()) / 2, (c.green() + grey.green()) / 2, (c.blue() + grey.blue()) / 2);
}

QColor unfilledTint(const QColor& color) {
    return QColor((color.red() + 3 * 255) / 4, (color.green() + 3 * 255) / 4, (color.blue() + 3 * 255) / 4);
}

QColor textOn(const QColor& background) {
    const double luma = 0.299 * background.red() + 0.587 * background.green() + 0.114 * background.blue();
    return luma > 150 ? QColor(0x20, 0x20, 0x20) : QColor(0xff, 0xff, 0xff);
}

}  // namespace kvscope::ui
