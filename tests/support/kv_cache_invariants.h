#pragma once
// Invariants of the KV-cache manager, recounted independently from its block tables and blocks.

#include <gtest/gtest.h>

#include <span>

#include "engine/kv_cache_manager.h"

namespace kvscope::test {

// `live`: the sequences the test believes hold blocks. Checks that
// - the manager knows exactly these sequences;
// - every block's ref_count equals the number of table entries naming it (so no block is both
//   free and owned);
// - used + cached-free + free = total, and every counter (pool and stats) equals a recount;
// - the hash index holds exactly the hashed blocks, each under its own hash; hashed blocks are
//   full, free blocks empty;
// - the free queue is a well-linked doubly-linked list holding exactly the blocks with
//   ref_count == 0, each once;
// - every sequence's table covers its computed tokens (a swapped-out one: no KV block, and
//   swap blocks that cover them).
::testing::AssertionResult kv_cache_invariants_hold(const KvCacheManager& manager, std::span<const SeqId> live);

}  // namespace kvscope::test
