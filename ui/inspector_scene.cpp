#include "ui/inspector_scene.h"

#include <QObject>
#include <algorithm>
#include <map>

#include "ui/inspector_palette.h"

namespace kvscope::ui {

InspectorScene::InspectorScene(std::shared_ptr<const EngineSnapshot> snapshot, ColorBy colorBy)
    : m_snapshot(std::move(snapshot)), m_colorBy(colorBy) {
    if (!m_snapshot || m_snapshot->detail != SnapshotDetail::Full) {
        m_snapshot.reset();
        return;
    }
    for (const SequenceSnapshot& s : m_snapshot->sequences) m_sequences.emplace(s.id, &s);
    const KvSnapshot& kv = m_snapshot->kv;
    m_owner.assign(kv.blocks.size(), -1);
    for (std::size_t b = 0; b < kv.blocks.size(); ++b) {
        if (kv.blocks[b].ref_count == 0) continue;
        const auto owners = kv.owners(std::int32_t(b));
        if (owners.empty()) continue;
        if (const SequenceSnapshot* s = sequence(owners.front())) m_owner[b] = s->request_id;
    }
}

const SequenceSnapshot* InspectorScene::sequence(SeqId id) const {
    const auto it = m_sequences.find(id);
    return it == m_sequences.end() ? nullptr : it->second;
}

BlockKind InspectorScene::kind(int block) const {
    const KvBlockInfo& b = m_snapshot->kv.blocks[std::size_t(block)];
    switch (b.state) {
        case BlockState::Free:
            return BlockKind::Free;
        case BlockState::Cached:
            return BlockKind::Cached;
        case BlockState::Active:
            return b.ref_count > 1 ? BlockKind::Shared : BlockKind::Active;
    }
    return BlockKind::Free;
}

std::int32_t InspectorScene::lora(int block) const {
    const auto& loras = m_snapshot->block_loras;
    return std::size_t(block) < loras.size() ? loras[std::size_t(block)] : -1;
}

QString InspectorScene::loraName(std::int32_t lora) const {
    if (!m_snapshot || lora < 0 || std::size_t(lora) >= m_snapshot->loras.size()) return QObject::tr("base model");
    return QString::fromStdString(m_snapshot->loras[std::size_t(lora)]);
}

QColor InspectorScene::color(int block) const {
    if (m_colorBy == ColorBy::Adapter) {
        switch (kind(block)) {
            case BlockKind::Free:
                return InspectorPalette::free();
            case BlockKind::Cached:
                return cachedAdapterColor(lora(block));
            case BlockKind::Active:
            case BlockKind::Shared:
                return adapterColor(lora(block));
        }
    }
    switch (kind(block)) {
        case BlockKind::Free:
            return InspectorPalette::free();
        case BlockKind::Cached:
            return InspectorPalette::cached();
        case BlockKind::Shared:
            return InspectorPalette::shared();
        case BlockKind::Active: {
            const RequestId owner = ownerRequest(block);
            return owner >= 0 ? requestColor(owner) : InspectorPalette::shared();
        }
    }
    return InspectorPalette::free();
}

double InspectorScene::fill(int block) const {
    const KvBlockInfo& b = m_snapshot->kv.blocks[std::size_t(block)];
    if (b.state == BlockState::Cached) return 1.0;
    const int bs = blockSize();
    return bs > 0 ? double(b.num_tokens) / bs : 0.0;
}

std::vector<InspectorScene::Mapping> InspectorScene::mappings(int block) const {
    std::vector<Mapping> out;
    if (!m_snapshot) return out;
    const KvSnapshot& kv = m_snapshot->kv;
    for (const SeqId id : kv.owners(block)) {
        const KvSequenceInfo* info = kv.find_sequence(id);
        const SequenceSnapshot* s = sequence(id);
        if (info == nullptr) continue;
        const auto table = kv.block_table(*info);
        for (std::size_t i = 0; i < table.size(); ++i) {
            if (table[i] != block) continue;
            out.push_back(Mapping{id, s ? s->request_id : -1, s ? s->sample_index : 0, std::int32_t(i)});
        }
    }
    return out;
}

std::vector<std::pair<InspectorScene::Mapping, std::vector<std::int32_t>>> InspectorScene::tablesOf(
    RequestId request) const {
    std::vector<std::pair<Mapping, std::vector<std::int32_t>>> out;
    if (!m_snapshot) return out;
    for (const SequenceSnapshot& s : m_snapshot->sequences) {
        if (s.request_id != request) continue;
        const KvSequenceInfo* info = m_snapshot->kv.find_sequence(s.id);
        if (info == nullptr) continue;
        const auto table = m_snapshot->kv.block_table(*info);
        out.push_back(
            {Mapping{s.id, request, s.sample_index, 0}, std::vector<std::int32_t>(table.begin(), table.end())});
    }
    return out;
}

std::vector<InspectorScene::LiveRequest> InspectorScene::liveRequests() const {
    std::map<RequestId, LiveRequest> live;
    if (!m_snapshot) return {};
    for (const SequenceSnapshot& s : m_snapshot->sequences) {
        LiveRequest& r = live[s.request_id];
        r.id = s.request_id;
        ++r.sequences;
        r.running = r.running || s.status == SequenceStatus::Running;
        r.lora = s.lora;
        if (const KvSequenceInfo* info = m_snapshot->kv.find_sequence(s.id)) r.blocks += info->num_blocks;
    }
    std::vector<LiveRequest> out;
    for (const auto& [id, r] : live) out.push_back(r);
    return out;
}

}  // namespace kvscope::ui
