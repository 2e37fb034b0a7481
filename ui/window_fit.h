#pragma once
// Where a window goes on a screen: a geometry remembered on a larger screen, or one the layout's
// minimum made larger than this screen, is cut to the screen's available area and moved into it.

#include <QRect>

namespace kvscope::ui {

// `frame`: the window with its decorations; `available`: the screen's area for windows. The
// result is the frame's geometry, the same when it already fits.
QRect fitToScreen(const QRect& frame, const QRect& available);

}  // namespace kvscope::ui
