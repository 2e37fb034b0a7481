#pragma once
// The memory lab: replays a trace under one KV allocator after another, with the same serving
// loop and the same budget, and records where the memory goes at every step.
//
// The serving loop is the engine's own Scheduler (engine/scheduler.h) run without a model, so that
// the paged allocator's figures are the live engine's on the same trace:
// - A request joins the waiting queue at the first step that starts at or after its arrival
//   (step k starts at k * step_time_s); stretches with nothing to do are skipped.
// - Each step first serves the running sequences in admission order: one token each (a decode),
//   or the next chunk of a prompt that is being recomputed or chunked. When the allocator cannot
//   grow one, the lowest-priority, newest running sequence is preempted (recompute: its memory
//   is freed and it waits again, keeping its place by arrival). Contiguous allocators never need
//   to: their regions were sized at admission.
// - Then, unless that step preempted, waiting requests are admitted in (priority, arrival) order
//   while the allocator places them, max_num_seqs allows (a request with n samples takes n
//   seats) and the step's token budget lasts; the first that does not fit stops admission
//   (FCFS: nobody jumps the queue head). An admitted prompt is computed in its admission step
//   (in chunks only when it exceeds max_num_batched_tokens).
// - After the step, every sequence whose computed tokens reached its end samples one token; a
//   request with n > 1 forks its other samples after its prompt. A sample finishes when it has
//   its recorded output length (cut at max_model_len): the token that finishes it is never
//   computed, so a sample ever holds prompt + output - 1 tokens of KV.
// - Requests that can never run (the prompt fills the context, more memory than the whole
//   budget, more samples than max_num_seqs, an unchunked prompt above the step budget) are
//   refused when they arrive, and listed.
// Memory is measured after every step (MemoryUse).

#include <functional>

#include "engine/lab/kv_model.h"
#include "engine/lab/lab_result.h"
#include "engine/trace.h"

namespace kvscope::lab {

// One allocator. Throws ConfigError when `config` or `allocator` is invalid.
LabRun replay(const Trace& trace, const LabConfig& config, const AllocatorSpec& allocator);
// The same on a model made by the caller (tests).
LabRun replay(const Trace& trace, const LabConfig& config, KvModel& model);

// Every allocator in turn. `progress` (optional) is called after each with (done, total) and
// may return false to stop early (the report then holds the runs done).
LabReport run_lab(const Trace& trace, const LabConfig& config, const std::vector<AllocatorSpec>& allocators,
                  const std::function<bool(int, int)>& progress = {});

}  // namespace kvscope::lab
