#pragma once
// A short text compiled into the binaries (resources/texts/kite_story.txt, a children's story in
// the style the embedded model was trained on), so that the workbench can measure perplexity with
// no file at hand.

#include <string_view>

namespace kvscope {

// "the built-in sample": what the workbench names it.
inline constexpr std::string_view kSampleTextName = "kite_story.txt";

// The text (UTF-8), valid for the life of the program.
std::string_view sample_text();

}  // namespace kvscope
