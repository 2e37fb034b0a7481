#pragma once
// The engine's state at one moment, for the UI and the snapshot API: the KV cache picture plus
// who owns each sequence and the metrics. A value: copyable, no pointers into the engine.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/kv_snapshot.h"
#include "engine/metrics.h"
#include "engine/request.h"
#include "engine/sequence.h"

namespace kvscope {

struct SequenceSnapshot {
    SeqId id = 0;
    RequestId request_id = 0;
    std::int32_t sample_index = 0;
    SequenceStatus status = SequenceStatus::Waiting;
    std::int32_t priority = 0;
    std::int32_t num_prompt_tokens = 0;
    std::int32_t num_tokens = 0;
    std::int32_t num_computed_tokens = 0;
    std::int32_t num_cached_tokens = 0;
    std::int32_t num_preemptions = 0;
    std::int32_t lora = -1;  // its LoRA adapter: an index into EngineSnapshot::loras; -1: the base model
};

// How much of the KV picture a snapshot carries. Counters (KvCacheStats, metrics, sequences) are
// small; the per-block arrays grow with the cache (about 60 bytes a block: megabytes at 100,000
// blocks), so a frequent reader (the workbench's charts and counters) asks for them less often.
enum class SnapshotDetail : std::uint8_t {
    Full,          // everything
    CountersOnly,  // kv.stats only: kv.blocks, owners, tables and the free queue are left empty
};

struct EngineSnapshot {
    SnapshotDetail detail = SnapshotDetail::Full;
    std::int64_t step = 0;
    std::size_t block_bytes = 0;  // bytes of one block, all layers, K and V
    KvSnapshot kv;
    std::vector<SequenceSnapshot> sequences;  // ascending id, waiting ones included
    EngineMetrics metrics;
    std::vector<std::string> loras;  // the LoRA adapters' names (Engine::lora_names), indexed by SequenceSnapshot::lora
    // Per block id (Full only, like kv.blocks): the adapter whose KV the block holds, an index into
    // `loras`, -1 for the base model (and for free blocks). Set by the sequence that last wrote it,
    // so a cached block keeps its adapter; a held block's owners all share it (prefix-cache keys
    // include the adapter). Empty when every block is the base model's (no copy of a large
    // cache's worth of -1 in each snapshot).
    std::vector<std::int32_t> block_loras;
};

// A snapshot's bytes outside its chunks of blocks (sequences, tables, free queue, adapters): what
// it holds of its own beside the chunks it may share (KvBlockList::bytes_not_in counts those).
inline std::size_t snapshot_array_bytes(const EngineSnapshot& s) {
    const KvSnapshot& kv = s.kv;
    return (kv.table_block_ids.size() + kv.free_queue.size() + s.block_loras.size()) * sizeof(std::int32_t) +
           kv.sequences.size() * sizeof(KvSequenceInfo) + s.sequences.size() * sizeof(SequenceSnapshot);
}

}  // namespace kvscope
