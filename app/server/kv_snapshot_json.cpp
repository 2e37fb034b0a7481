#include "app/server/kv_snapshot_json.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <map>

namespace kvscope::server {
namespace {

const char* state_name(BlockState state) {
    switch (state) {
        case BlockState::Free:
            return "free";
        case BlockState::Cached:
            return "cached";
        case BlockState::Active:
            return "active";
    }
    return "free";
}

BlockState parse_state(const std::string& name) {
    if (name == "free") return BlockState::Free;
    if (name == "cached") return BlockState::Cached;
    if (name == "active") return BlockState::Active;
    throw SnapshotFormatError("kv snapshot: unknown block state '" + name + "'");
}

std::string hash_hex(const BlockHash& h) {
    char buf[33];
    std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.hi),
                  static_cast<unsigned long long>(h.lo));
    return buf;
}

BlockHash parse_hash(const std::string& hex) {
    BlockHash h;
    if (hex.size() != 32 || std::from_chars(hex.data(), hex.data() + 16, h.hi, 16).ptr != hex.data() + 16 ||
        std::from_chars(hex.data() + 16, hex.data() + 32, h.lo, 16).ptr != hex.data() + 32) {
        throw SnapshotFormatError("kv snapshot: a block hash must be 32 hex digits, got '" + hex + "'");
    }
    return h;
}

nlohmann::json stats_json(const KvCacheStats& s, std::size_t block_bytes) {
    return {{"num_used_blocks", s.num_used_blocks},
            {"num_cached_blocks", s.num_cached_free_blocks},
            {"num_free_blocks", s.num_free_blocks},
            {"num_filled_slots", s.num_filled_slots},
            {"num_shared_blocks", s.num_shared_blocks},
            {"num_saved_blocks", s.num_saved_blocks},
            {"num_sequences", s.num_sequences},
            {"num_prefix_requests", s.num_prefix_requests},
            {"num_prefix_query_tokens", s.num_prefix_query_tokens},
            {"num_prefix_hit_tokens", s.num_prefix_hit_tokens},
            {"usage", s.usage()},
            {"fragmentation", s.fragmentation()},
            {"prefix_hit_rate", s.prefix_hit_rate()},
            {"sharing_saved_bytes", s.num_saved_blocks * static_cast<std::int64_t>(block_bytes)}};
}

nlohmann::json metrics_json(const EngineMetrics& m) {
    return {
        {"num_requests_running", m.num_requests_running},
        {"num_requests_waiting", m.num_requests_waiting},
        {"kv_cache_usage_perc", m.kv_cache_usage_perc},
        {"prompt_tokens", m.prompt_tokens},
        {"generation_tokens", m.generation_tokens},
        {"num_preemptions", m.num_preemptions},
        {"prefix_cache_queries", m.prefix_cache_queries},
        {"prefix_cache_hits", m.prefix_cache_hits},
        {"num_steps", m.num_steps},
        {"request_success",
         {{"stop", m.request_success_stop}, {"length", m.request_success_length}, {"abort", m.request_success_abort}}}};
}

nlohmann::json sequences_json(const ServingState& state) {
    const KvSnapshot& kv = state.engine.kv;
    nlohmann::json out = nlohmann::json::array();
    for (const SequenceSnapshot& s : state.engine.sequences) {
        const auto label = state.labels.find(s.request_id);
        nlohmann::json table = nlohmann::json::array();
        if (const KvSequenceInfo* info = kv.find_sequence(s.id)) {
            for (std::int32_t b : kv.block_table(*info)) table.push_back(b);
        }
        out.push_back({{"id", s.id},
                       {"request_id", label != state.labels.end() ? label->second : std::to_string(s.request_id)},
                       {"engine_request_id", s.request_id},
                       {"sample_index", s.sample_index},
                       {"status", s.status == SequenceStatus::Running ? "running" : "waiting"},
                       {"priority", s.priority},
                       {"num_prompt_tokens", s.num_prompt_tokens},
                       {"num_tokens", s.num_tokens},
                       {"num_computed_tokens", s.num_computed_tokens},
                       {"num_cached_tokens", s.num_cached_tokens},
                       {"num_preemptions", s.num_preemptions},
                       {"block_table", std::move(table)}});
        if (s.lora >= 0) out.back()["lora"] = state.engine.loras[static_cast<std::size_t>(s.lora)];
    }
    return out;
}

template <typename T>
T field(const nlohmann::json& j, const char* key) {
    const auto it = j.find(key);
    if (it == j.end()) throw SnapshotFormatError(std::string("kv snapshot: missing field '") + key + "'");
    try {
        return it->get<T>();
    } catch (const nlohmann::json::exception&) {
        throw SnapshotFormatError(std::string("kv snapshot: field '") + key + "' has the wrong type");
    }
}

void read_stats(const nlohmann::json& j, KvCacheStats& s) {
    s.num_used_blocks = field<std::int32_t>(j, "num_used_blocks");
    s.num_cached_free_blocks = field<std::int32_t>(j, "num_cached_blocks");
    s.num_free_blocks = field<std::int32_t>(j, "num_free_blocks");
    s.num_filled_slots = field<std::int64_t>(j, "num_filled_slots");
    s.num_shared_blocks = field<std::int32_t>(j, "num_shared_blocks");
    s.num_saved_blocks = field<std::int64_t>(j, "num_saved_blocks");
    s.num_sequences = field<std::int32_t>(j, "num_sequences");
    s.num_prefix_requests = field<std::int64_t>(j, "num_prefix_requests");
    s.num_prefix_query_tokens = field<std::int64_t>(j, "num_prefix_query_tokens");
    s.num_prefix_hit_tokens = field<std::int64_t>(j, "num_prefix_hit_tokens");
}

void read_metrics(const nlohmann::json& j, EngineMetrics& m) {
    m.num_requests_running = field<std::int32_t>(j, "num_requests_running");
    m.num_requests_waiting = field<std::int32_t>(j, "num_requests_waiting");
    m.kv_cache_usage_perc = field<double>(j, "kv_cache_usage_perc");
    m.prompt_tokens = field<std::int64_t>(j, "prompt_tokens");
    m.generation_tokens = field<std::int64_t>(j, "generation_tokens");
    m.num_preemptions = field<std::int64_t>(j, "num_preemptions");
    m.prefix_cache_queries = field<std::int64_t>(j, "prefix_cache_queries");
    m.prefix_cache_hits = field<std::int64_t>(j, "prefix_cache_hits");
    m.num_steps = field<std::int64_t>(j, "num_steps");
    const nlohmann::json success = field<nlohmann::json>(j, "request_success");
    m.request_success_stop = field<std::int64_t>(success, "stop");
    m.request_success_length = field<std::int64_t>(success, "length");
    m.request_success_abort = field<std::int64_t>(success, "abort");
}

// An optional "lora" (a name in `loras`) as an index; -1 when absent (the base model).
std::int32_t read_lora(const nlohmann::json& j, const std::vector<std::string>& loras) {
    const auto it = j.find("lora");
    if (it == j.end() || it->is_null()) return -1;
    const auto name = std::find(loras.begin(), loras.end(), field<std::string>(j, "lora"));
    if (name == loras.end()) throw SnapshotFormatError("kv snapshot: a \"lora\" that \"loras\" does not list");
    return static_cast<std::int32_t>(name - loras.begin());
}

// Blocks (free ones recreated when left out), their owners and adapters.
void read_blocks(const nlohmann::json& j, std::int32_t num_blocks, EngineSnapshot& snap) {
    KvSnapshot& kv = snap.kv;
    snap.block_loras.assign(static_cast<std::size_t>(num_blocks), -1);
    std::vector<KvBlockInfo> blocks(static_cast<std::size_t>(num_blocks));
    for (std::int32_t i = 0; i < num_blocks; ++i) blocks[static_cast<std::size_t>(i)].id = i;
    std::map<std::int32_t, std::vector<SeqId>> owners;
    for (const nlohmann::json& b : field<nlohmann::json>(j, "blocks")) {
        const std::int32_t id = field<std::int32_t>(b, "id");
        if (id < 0 || id >= num_blocks) throw SnapshotFormatError("kv snapshot: block id out of range");
        KvBlockInfo& info = blocks[static_cast<std::size_t>(id)];
        info.state = parse_state(field<std::string>(b, "state"));
        info.ref_count = field<std::int32_t>(b, "ref_count");
        info.num_tokens = field<std::int32_t>(b, "num_tokens");
        info.last_used_step = field<std::int64_t>(b, "last_used");
        if (const auto h = b.find("hash"); h != b.end() && !h->is_null())
            info.hash = parse_hash(field<std::string>(b, "hash"));
        owners[id] = field<std::vector<SeqId>>(b, "owners");
        snap.block_loras[static_cast<std::size_t>(id)] = read_lora(b, snap.loras);
    }
    std::vector<std::int32_t> owner_offsets(1, 0);
    std::vector<SeqId> owner_ids;
    for (std::int32_t i = 0; i < num_blocks; ++i) {
        if (const auto it = owners.find(i); it != owners.end()) {
            owner_ids.insert(owner_ids.end(), it->second.begin(), it->second.end());
        }
        owner_offsets.push_back(static_cast<std::int32_t>(owner_ids.size()));
    }
    kv.blocks = KvBlockList(blocks, owner_offsets, owner_ids);
    // As the engine's own: empty when every block is the base model's.
    if (std::all_of(snap.block_loras.begin(), snap.block_loras.end(), [](std::int32_t l) { return l < 0; }))
        snap.block_loras.clear();
}

void read_sequences(const nlohmann::json& j, RemoteKvSnapshot& out) {
    KvSnapshot& kv = out.engine.kv;
    for (const nlohmann::json& s : field<nlohmann::json>(j, "sequences")) {
        SequenceSnapshot seq;
        seq.id = field<SeqId>(s, "id");
        seq.request_id = field<RequestId>(s, "engine_request_id");
        seq.sample_index = field<std::int32_t>(s, "sample_index");
        seq.status = field<std::string>(s, "status") == "running" ? SequenceStatus::Running : SequenceStatus::Waiting;
        seq.priority = field<std::int32_t>(s, "priority");
        seq.num_prompt_tokens = field<std::int32_t>(s, "num_prompt_tokens");
        seq.num_tokens = field<std::int32_t>(s, "num_tokens");
        seq.num_computed_tokens = field<std::int32_t>(s, "num_computed_tokens");
        seq.num_cached_tokens = field<std::int32_t>(s, "num_cached_tokens");
        seq.num_preemptions = field<std::int32_t>(s, "num_preemptions");
        seq.lora = read_lora(s, out.engine.loras);
        out.engine.sequences.push_back(seq);
        out.labels[seq.request_id] = field<std::string>(s, "request_id");
        const auto table = field<std::vector<std::int32_t>>(s, "block_table");
        for (std::int32_t b : table) {
            if (b < 0 || b >= kv.stats.num_blocks)
                throw SnapshotFormatError("kv snapshot: block table id out of range");
        }
        if (table.empty()) continue;
        kv.sequences.push_back({seq.id, seq.num_computed_tokens, static_cast<std::int32_t>(kv.table_block_ids.size()),
                                static_cast<std::int32_t>(table.size())});
        kv.table_block_ids.insert(kv.table_block_ids.end(), table.begin(), table.end());
    }
    std::sort(out.engine.sequences.begin(), out.engine.sequences.end(),
              [](const SequenceSnapshot& a, const SequenceSnapshot& b) { return a.id < b.id; });
    std::sort(kv.sequences.begin(), kv.sequences.end(),
              [](const KvSequenceInfo& a, const KvSequenceInfo& b) { return a.id < b.id; });
}

}  // namespace

nlohmann::json kv_snapshot_json(const ServingState& state, const ServingInfo& info, const std::string& model_name,
                                bool include_free) {
    const EngineSnapshot& snap = state.engine;
    const KvSnapshot& kv = snap.kv;
    nlohmann::json blocks = nlohmann::json::array();
    for (const KvBlockInfo& b : kv.blocks) {
        if (!include_free && b.state == BlockState::Free) continue;
        nlohmann::json owners = nlohmann::json::array();
        for (SeqId s : kv.owners(b.id)) owners.push_back(s);
        blocks.push_back({{"id", b.id},
                          {"state", state_name(b.state)},
                          {"ref_count", b.ref_count},
                          {"num_tokens", b.num_tokens},
                          {"hash", b.hash ? nlohmann::json(hash_hex(*b.hash)) : nlohmann::json(nullptr)},
                          {"last_used", b.last_used_step},
                          {"owners", std::move(owners)}});
        const std::int32_t lora = b.state == BlockState::Free || snap.block_loras.empty()
                                      ? -1
                                      : snap.block_loras[static_cast<std::size_t>(b.id)];
        if (lora >= 0) blocks.back()["lora"] = snap.loras[static_cast<std::size_t>(lora)];
    }
    return {{"object", "kv.snapshot"},
            {"model", model_name},
            {"step", snap.step},
            {"block_size", kv.stats.block_size},
            {"num_blocks", kv.stats.num_blocks},
            {"block_bytes", snap.block_bytes},
            {"max_model_len", info.plan.max_model_len},
            {"loras", snap.loras},
            {"stats", stats_json(kv.stats, snap.block_bytes)},
            {"blocks", std::move(blocks)},
            {"sequences", sequences_json(state)},
            {"free_queue", kv.free_queue},
            {"metrics", metrics_json(snap.metrics)}};
}

RemoteKvSnapshot kv_snapshot_from_json(const nlohmann::json& j) {
    if (!j.is_object() || j.value("object", std::string()) != "kv.snapshot") {
        throw SnapshotFormatError("kv snapshot: not an object with \"object\": \"kv.snapshot\"");
    }
    RemoteKvSnapshot out;
    out.model = field<std::string>(j, "model");
    out.max_model_len = field<std::int32_t>(j, "max_model_len");
    EngineSnapshot& snap = out.engine;
    snap.step = field<std::int64_t>(j, "step");
    snap.block_bytes = field<std::size_t>(j, "block_bytes");
    KvSnapshot& kv = snap.kv;
    kv.stats.block_size = field<std::int32_t>(j, "block_size");
    kv.stats.num_blocks = field<std::int32_t>(j, "num_blocks");
    if (kv.stats.num_blocks < 0 || kv.stats.num_blocks > (1 << 24)) {
        throw SnapshotFormatError("kv snapshot: num_blocks out of range");
    }
    kv.stats.step = snap.step;
    read_stats(field<nlohmann::json>(j, "stats"), kv.stats);
    // (servers from before adapters have no "loras")
    if (j.contains("loras")) snap.loras = field<std::vector<std::string>>(j, "loras");
    read_blocks(j, kv.stats.num_blocks, snap);
    read_sequences(j, out);
    kv.free_queue = field<std::vector<std::int32_t>>(j, "free_queue");
    read_metrics(field<nlohmann::json>(j, "metrics"), snap.metrics);
    snap.metrics.kv_fragmentation = kv.stats.fragmentation();
    snap.metrics.num_shared_blocks = kv.stats.num_shared_blocks;
    snap.metrics.sharing_saved_bytes = kv.stats.num_saved_blocks * static_cast<std::int64_t>(snap.block_bytes);
    return out;
}

}  // namespace kvscope::server
