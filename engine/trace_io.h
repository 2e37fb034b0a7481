#pragma once
// Traces as JSONL (docs/MEMORY_LAB.md): an optional header object first, then one request per
// line.
//
//   {"kvscope_trace": 1, "source": "kvscope-cli generate", "model": "stories260K",
//    "max_model_len": 512, "kv_bytes_per_token": 2560, "kv_cache_tokens": 65536}
//   {"arrival_s": 0.0, "prompt_token_ids": [1, 403, 407], "output_len": 20}
//   {"arrival_s": 0.4, "prompt_len": 161, "output_len": 338, "priority": 1}
//   {"arrival_s": 0.9, "prompt_token_ids": [1, 9], "n": 2, "output_len": [3, 1],
//    "output_token_ids": [[5, 6, 7], [8]]}
//
// Request fields: "arrival_s" (seconds, >= 0; default 0), "prompt_token_ids" or "prompt_len"
// (at least one token), "output_len" (an integer for every sample, or one per sample), "n"
// (samples, default 1 or the length of "output_len"), "output_token_ids" (optional, one list per
// sample), "priority" (default 0). Blank lines are skipped; any other key is an error.

#include <istream>
#include <string>

#include "engine/trace.h"

namespace kvscope {

// Throws FileError "FILE:LINE: what is wrong; what to do" for the first bad line.
Trace read_trace(const std::string& path);
// The same from a stream; `name` stands for the file in messages.
Trace parse_trace(std::istream& in, const std::string& name);

// The JSONL text: the header line, then one line per request, in order.
std::string trace_to_jsonl(const Trace& trace);
// Writes trace_to_jsonl atomically (temp file + rename). Throws FileError.
void write_trace(const Trace& trace, const std::string& path);

}  // namespace kvscope
