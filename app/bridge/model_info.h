#pragma once
// Engine objects described as the UI's values: a GGUF file's header (ModelFileInfo, what
// `kvscope-cli info` prints) and a loaded engine (ModelSummary).

#include <QString>

#include "engine/engine.h"
#include "ui/engine_messages.h"
#include "ui/model_summary.h"

namespace kvscope::app {

// Reads the header of `source` (a path or the embedded model's name); a file that cannot be read
// gives a ModelFileInfo with `error` set, one that cannot run one with `runProblem` set.
ui::ModelFileInfo readModelFileInfo(const QString& source);

// Everything but the vocabulary (tokenVocabulary: built once per model by the caller).
ui::ModelSummary summarize(const QString& source, const Engine& engine);

// Each token's bytes, and whether it is a token the chat's text leaves out (control and unknown
// tokens, as the detokenizer's skip_special).
std::shared_ptr<const ui::TokenVocabulary> tokenVocabulary(const Tokenizer& tokenizer);

// The name the workbench shows for the model loaded from `source`: its own, or, when that is
// generic (the architecture's), the file's stem.
QString modelDisplayName(const QString& source, const ModelConfig& config);

}  // namespace kvscope::app
