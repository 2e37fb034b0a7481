#pragma once
// One snapshot as the inspector sees it: what each block looks like (state, owning request,
// fill) and the mappings between sequences and blocks, derived once when the snapshot is shown
// (O(blocks)), so that painting, hover and clicks only look things up.

#include <QColor>
#include <QString>
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/snapshot.h"

namespace kvscope::ui {

enum class BlockKind : std::uint8_t { Free, Cached, Active, Shared };
// What a block's colour says: the request holding it (shared and cached blocks in their own
// colours), or the LoRA adapter whose KV it holds (held and cached, InspectorPalette::adapterColor).
enum class ColorBy : std::uint8_t { Request, Adapter };

class InspectorScene {
public:
    struct Mapping {
        SeqId seq = 0;
        RequestId request = 0;
        std::int32_t sample = 0;
        std::int32_t logical = 0;  // index in the sequence's block table
    };
    struct LiveRequest {
        RequestId id = 0;
        std::int32_t blocks = 0;  // over its sequences
        std::int32_t sequences = 0;
        bool running = false;
        std::int32_t lora = -1;  // its adapter: an index into the snapshot's loras; -1: the base model
    };

    InspectorScene() = default;
    // A full snapshot (one without block arrays gives an empty scene).
    explicit InspectorScene(std::shared_ptr<const EngineSnapshot> snapshot, ColorBy colorBy = ColorBy::Request);

    const EngineSnapshot* snapshot() const { return m_snapshot.get(); }
    const std::shared_ptr<const EngineSnapshot>& snapshotPtr() const { return m_snapshot; }
    int numBlocks() const { return int(m_owner.size()); }
    int blockSize() const { return m_snapshot ? m_snapshot->kv.stats.block_size : 0; }
    ColorBy colorBy() const { return m_colorBy; }

    BlockKind kind(int block) const;
    // The request of the block's first owner; -1 when no sequence holds it.
    RequestId ownerRequest(int block) const { return m_owner[std::size_t(block)]; }
    // The adapter whose KV the block holds (EngineSnapshot::block_loras; -1: the base model, or
    // a snapshot without adapters).
    std::int32_t lora(int block) const;
    // The adapter's name; the base model's for -1.
    QString loraName(std::int32_t lora) const;
    QColor color(int block) const;
    // Filled slots / block size (1 for cached blocks; free blocks hold nothing).
    double fill(int block) const;

    std::vector<Mapping> mappings(int block) const;
    // The request's block tables, one per live sequence (sample), physical ids in logical order.
    std::vector<std::pair<Mapping, std::vector<std::int32_t>>> tablesOf(RequestId request) const;
    const SequenceSnapshot* sequence(SeqId id) const;
    std::vector<LiveRequest> liveRequests() const;

private:
    std::shared_ptr<const EngineSnapshot> m_snapshot;
    ColorBy m_colorBy = ColorBy::Request;
    std::unordered_map<SeqId, const SequenceSnapshot*> m_sequences;
    std::vector<RequestId> m_owner;
};

}  // namespace kvscope::ui
