#pragma once
// The text the inspector shows about a block (hover, click) and about a request (its block
// table), as rich text made from the scene alone: testable without a widget.

#include <QString>
#include <optional>

#include "engine/block_hash.h"
#include "ui/engine_messages.h"
#include "ui/inspector_scene.h"

namespace kvscope::ui {

QString blockStateName(BlockKind kind);
// 32 hex digits (hi then lo).
QString hashText(const BlockHash& hash);
// The tokens with their boundaries visible: "Once│ upon│ a│ time".
QString tokensText(const BlockTokens& tokens);

// `tokens`: what the block holds, when the engine has answered for this block (else "…").
QString blockDetailsHtml(const InspectorScene& scene, int block, const BlockTokens* tokens);
QString requestDetailsHtml(const InspectorScene& scene, RequestId request);
// One line for a tooltip: "block 12 · shared ×3 · 16/16 · request 4".
QString blockTooltip(const InspectorScene& scene, int block);

}  // namespace kvscope::ui
