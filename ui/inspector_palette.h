#pragma once
// The inspector's colours: one per block state, and a stable colour per request (a function of
// its id alone, so a request keeps its colour across snapshots, the timeline and every panel).
// Request hues skip the amber band reserved for shared blocks, and stay saturated enough not to
// read as the greys of free and cached blocks.

#include <QColor>
#include <cstdint>

namespace kvscope::ui {

struct InspectorPalette {
    static QColor background() { return QColor(0xfa, 0xfa, 0xfa); }
    static QColor free() { return QColor(0xe4, 0xe8, 0xeb); }
    static QColor cached() { return QColor(0x8d, 0x9b, 0xa6); }  // evictable prefix: a later prompt may reuse it
    static QColor shared() { return QColor(0xff, 0xb3, 0x00); }  // ref count > 1
    static QColor selection() { return QColor(0x10, 0x10, 0x10); }
    static QColor focus() { return QColor(0xd5, 0x00, 0x3a); }
    static QColor path() { return QColor(0x10, 0x10, 0x10, 200); }
};

// Colouring by adapter: the base model's colour (index -1) and one per LoRA adapter index (the
// first eight far apart, none amber or grey), stable across snapshots.
QColor adapterColor(std::int32_t lora);
// A cached block of that adapter: its colour washed toward the cached grey.
QColor cachedAdapterColor(std::int32_t lora);

// Stable: the same id always gives the same colour.
QColor requestColor(qint64 requestId);
// The unfilled part of a partly filled block: a pale tint of its colour.
QColor unfilledTint(const QColor& color);
// Black or white, whichever reads better on `background`.
QColor textOn(const QColor& background);

}  // namespace kvscope::ui
