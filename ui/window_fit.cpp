#include "ui/window_fit.h"

#include <algorithm>

namespace kvscope::ui {

QRect fitToScreen(const QRect& frame, const QRect& available) {
    if (available.isEmpty()) return frame;
    QRect fitted = frame;
    fitted.setWidth(std::min(frame.width(), available.width()));
    fitted.setHeight(std::min(frame.height(), available.height()));
    fitted.moveLeft(std::clamp(frame.left(), available.left(), available.right() + 1 - fitted.width()));
    fitted.moveTop(std::clamp(frame.top(), available.top(), available.bottom() + 1 - fitted.height()));
    return fitted;
}

}  // namespace kvscope::ui
