// Randomised workloads on a tight KV cache: admissions with prefix hits, chunked prefill, decode,
// forks with copy-on-write, preemption, frees. After every operation the invariants are checked
// against an independent recount, and a simulated KV memory (one token id per slot, written the
// way a backend would: copies first, then the step's tokens) must hold exactly each sequence's
// tokens at the slots its block table gives: wrong sharing, a missing copy or a bad prefix hit
// all show up there.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/kv_cache_manager.h"
#include "kernels/check.h"
#include "tests/support/kv_cache_invariants.h"

namespace kvscope {
namespace kv_cache_random_test {

using Tokens = std::vector<std::int32_t>;

struct SimSequence {
    Tokens tokens;                  // all known tokens; the last one is never computed yet
    std::int32_t num_computed = 0;  // the test's own count
    std::uint64_t extra_key = 0;
};

struct Coverage {
    int hits = 0, copies = 0, out_of_blocks = 0, forks = 0, preemptions = 0, resets = 0;
};

class Workload {
public:
    // `ballast_blocks`: the first blocks are held throughout by a sequence of their own (id 0,
    // distinct tokens), so that the workload runs on the blocks after them.
    Workload(const KvCacheConfig& config, std::uint32_t seed, std::int32_t ballast_blocks = 0)
        : m_(config),
          bs_(config.block_size),
          rng_(seed),
          memory_(static_cast<std::size_t>(config.num_blocks) * config.block_size, -1) {
        // A few shared prompt heads, from a tiny vocabulary so that contents collide often.
        for (int t = 0; t < 4; ++t) templates_.push_back(random_tokens(bs_ * (1 + t)));
        if (ballast_blocks > 0) {
            Tokens ballast(static_cast<std::size_t>(ballast_blocks * bs_));
            for (std::size_t i = 0; i < ballast.size(); ++i) ballast[i] = 1000 + static_cast<std::int32_t>(i);
            KV_CHECK(m_.allocate_slots(0, ballast_blocks * bs_));
            m_.commit(0, ballast, ballast_blocks * bs_);
            ballast_ = true;
        }
    }

    void run(int num_ops) {
        for (int op = 0; op < num_ops; ++op) {
            m_.advance_step();
            const std::uint32_t dice = rng_() % 100;
            if (dice < 25) {
                admit(next_id_++, new_prompt());
            } else if (dice < 70) {
                if (!live_.empty()) step(random_live());
            } else if (dice < 78) {
                if (!live_.empty() && live_.size() < 16) fork(random_live());
            } else if (dice < 92) {
                if (!live_.empty()) finish(random_live());
            } else if (dice < 98) {
                if (!live_.empty()) preempt(random_live());
            } else {
                reset();
            }
            ASSERT_NO_FATAL_FAILURE(check()) << "after operation " << op;
        }
        while (!live_.empty()) finish(live_.begin()->first);
        if (ballast_) {
            m_.free(0);
            ballast_ = false;
        }
        ASSERT_NO_FATAL_FAILURE(check());
        for (const KvBlock& b : m_.pool().blocks()) EXPECT_TRUE(is_free(b) || is_cached(b)) << "block " << b.id;
        EXPECT_EQ(m_.stats().num_used_blocks, 0);
    }

    const Coverage& coverage() const { return coverage_; }
    const KvCacheManager& manager() const { return m_; }

private:
    Tokens random_tokens(std::int32_t n) {
        Tokens t(static_cast<std::size_t>(n));
        for (auto& x : t) x = static_cast<std::int32_t>(rng_() % 3);
        return t;
    }

    Tokens new_prompt() {
        const Tokens& head = templates_[rng_() % templates_.size()];
        Tokens prompt(head.begin(), head.begin() + static_cast<std::ptrdiff_t>(rng_() % (head.size() + 1)));
        const Tokens tail = random_tokens(1 + static_cast<std::int32_t>(rng_() % (2 * bs_)));
        prompt.insert(prompt.end(), tail.begin(), tail.end());
        return prompt;
    }

    SeqId random_live() {
        auto it = live_.begin();
        std::advance(it, static_cast<std::ptrdiff_t>(rng_() % live_.size()));
        return it->first;
    }

    std::int32_t random_chunk(std::int32_t remaining) {
        return std::min<std::int32_t>(remaining, 1 + static_cast<std::int32_t>(rng_() % (3 * bs_)));
    }

    // Everything observable, as text: for "a refused allocation changes nothing".
    std::string fingerprint() const {
        std::ostringstream out;
        for (const KvBlock& b : m_.pool().blocks()) {
            out << b.ref_count << ',' << b.num_tokens << ',' << (b.hash ? b.hash->lo : 0) << ',' << b.prev_free << ','
                << b.next_free << ',' << b.last_used_step << ';';
        }
        out << m_.pool().free_head() << ',' << m_.pool().free_tail() << ',' << m_.num_sequences();
        for (const auto& [id, seq] : live_) {
            out << '|' << id << ':' << m_.num_computed_tokens(id) << ':';
            for (const std::int32_t b : m_.block_table(id).block_ids()) out << b << ',';
        }
        const KvCacheStats s = m_.stats();
        out << '|' << s.num_prefix_requests << ',' << s.num_prefix_query_tokens << ',' << s.num_prefix_hit_tokens;
        return out.str();
    }

    // Whether an allocation of num_new tokens must succeed, from the test's own count of what
    // it needs: new blocks, plus one per shared block it writes into, against the free blocks
    // less the cached ones a prefix hit takes out of the queue.
    bool expect_fits(SeqId id, std::int32_t num_new, const PrefixMatch* match) const {
        const BlockPool& pool = m_.pool();
        std::int32_t computed = 0, held = 0, copies = 0, taken_from_queue = 0;
        if (match) {
            held = static_cast<std::int32_t>(match->block_ids.size());
            computed = held * bs_;
            for (const std::int32_t b : match->block_ids) taken_from_queue += pool.block(b).ref_count == 0 ? 1 : 0;
        } else {
            computed = live_.at(id).num_computed;
            held = m_.block_table(id).num_blocks();
        }
        const std::int32_t required = (computed + num_new + bs_ - 1) / bs_;
        if (!match && num_new > 0) {
            for (std::int32_t i = computed / bs_; i < std::min(held, required); ++i) {
                copies += pool.block(m_.block_table(id).block_id(i)).ref_count > 1 ? 1 : 0;
            }
        }
        return std::max(0, required - held) + copies <= pool.num_free_blocks() - taken_from_queue;
    }

    // The backend's part of a step: block copies, then KV for the new tokens; then commit.
    void run_step(SeqId id, const AllocResult& result, std::int32_t num_new) {
        SimSequence& seq = live_.at(id);
        for (const BlockCopy& c : result.copies) {
            std::copy_n(memory_.begin() + static_cast<std::ptrdiff_t>(c.src) * bs_, bs_,
                        memory_.begin() + static_cast<std::ptrdiff_t>(c.dst) * bs_);
            ++coverage_.copies;
        }
        for (std::int32_t p = seq.num_computed; p < seq.num_computed + num_new; ++p) {
            memory_[static_cast<std::size_t>(m_.slot(id, p))] = seq.tokens[static_cast<std::size_t>(p)];
        }
        seq.num_computed += num_new;
        m_.commit(id, seq.tokens, seq.num_computed);
        if (seq.num_computed == static_cast<std::int32_t>(seq.tokens.size())) {
            seq.tokens.push_back(static_cast<std::int32_t>(rng_() % 3));  // "sampled"
        }
    }

    void admit(SeqId id, Tokens prompt) {
        const std::uint64_t key = rng_() % 2;
        const PrefixMatch match = m_.find_cached_prefix(prompt, key);
        ASSERT_LT(match.num_cached_tokens, static_cast<std::int32_t>(prompt.size()));
        const std::int32_t num_new = random_chunk(static_cast<std::int32_t>(prompt.size()) - match.num_cached_tokens);
        const bool fits = expect_fits(id, num_new, &match);
        const std::string before = fingerprint();
        const std::optional<AllocResult> result = m_.allocate_slots(id, num_new, &match);
        ASSERT_EQ(result.has_value(), fits);
        if (!result) {
            ++coverage_.out_of_blocks;
            ASSERT_EQ(fingerprint(), before);
            ASSERT_FALSE(m_.contains(id));
            return;
        }
        ASSERT_EQ(result->num_computed_tokens, match.num_cached_tokens);
        ASSERT_TRUE(result->copies.empty());
        if (match.num_cached_tokens > 0) ++coverage_.hits;
        live_[id] = SimSequence{std::move(prompt), match.num_cached_tokens, key};
        run_step(id, *result, num_new);
    }

    void step(SeqId id) {
        const SimSequence& seq = live_.at(id);
        if (seq.tokens.size() > static_cast<std::size_t>(12 * bs_)) return finish(id);
        const std::int32_t num_new = random_chunk(static_cast<std::int32_t>(seq.tokens.size()) - seq.num_computed);
        const bool fits = expect_fits(id, num_new, nullptr);
        const std::string before = fingerprint();
        const std::optional<AllocResult> result = m_.allocate_slots(id, num_new);
        ASSERT_EQ(result.has_value(), fits);
        if (!result) {
            ++coverage_.out_of_blocks;
            ASSERT_EQ(fingerprint(), before);
            return;
        }
        ASSERT_EQ(result->num_computed_tokens, seq.num_computed);
        ASSERT_EQ(result->num_cached_tokens, 0);
        run_step(id, *result, num_new);
    }

    void fork(SeqId parent) {
        const SeqId child = next_id_++;
        m_.fork(parent, child);
        SimSequence copy = live_.at(parent);
        copy.tokens.back() = static_cast<std::int32_t>(rng_() % 3);  // its own sample
        live_[child] = std::move(copy);
        ++coverage_.forks;
    }

    void finish(SeqId id) {
        ASSERT_TRUE(m_.free(id));
        live_.erase(id);
    }

    void preempt(SeqId id) {
        Tokens tokens = live_.at(id).tokens;
        finish(id);
        ++coverage_.preemptions;
        admit(next_id_++, std::move(tokens));  // recompute, from the cache where it still is
    }

    void reset() {
        const bool ok = m_.reset_prefix_cache();
        ASSERT_EQ(ok, m_.stats().num_used_blocks == 0);
        if (ok) {
            ++coverage_.resets;
            ASSERT_EQ(m_.pool().num_hashed_blocks(), 0);
        }
    }

    void check() {
        std::vector<SeqId> ids;
        if (ballast_) ids.push_back(0);
        for (const auto& [id, seq] : live_) ids.push_back(id);
        ASSERT_TRUE(test::kv_cache_invariants_hold(m_, ids));
        ASSERT_NO_FATAL_FAILURE(check_snapshot(ids));
        for (const auto& [id, seq] : live_) {
            ASSERT_EQ(m_.num_computed_tokens(id), seq.num_computed);
            for (std::int32_t p = 0; p < seq.num_computed; ++p) {
                ASSERT_EQ(memory_[static_cast<std::size_t>(m_.slot(id, p))], seq.tokens[static_cast<std::size_t>(p)])
                    << "sequence " << id << " position " << p;
            }
            // A hashed full block carries the chained hash of this sequence's tokens up to it.
            std::optional<BlockHash> parent;
            for (std::int32_t i = 0; i < seq.num_computed / bs_; ++i) {
                const BlockHash h = hash_block(
                    parent, std::span(seq.tokens).subspan(static_cast<std::size_t>(i) * bs_, bs_), seq.extra_key);
                const KvBlock& block = m_.pool().block(m_.block_table(id).block_id(i));
                if (block.hash) {
                    ASSERT_EQ(*block.hash, h) << "sequence " << id << " block " << i;
                }
                parent = h;
            }
        }
    }

    // A snapshot that shares what it can with the previous one equals one taken from scratch, and
    // its owners are those the live block tables give (recounted here).
    void check_snapshot(const std::vector<SeqId>& ids) {
        KvSnapshot incremental;
        m_.snapshot_into(incremental, &last_snapshot_);
        const KvSnapshot scratch = m_.snapshot();
        ASSERT_TRUE(incremental.blocks == scratch.blocks);
        ASSERT_EQ(incremental.table_block_ids, scratch.table_block_ids);
        ASSERT_EQ(incremental.free_queue, scratch.free_queue);
        std::vector<std::vector<SeqId>> owners(static_cast<std::size_t>(m_.pool().num_blocks()));
        for (const SeqId id : ids) {
            for (const std::int32_t b : m_.block_table(id).block_ids())
                owners[static_cast<std::size_t>(b)].push_back(id);
        }
        for (std::int32_t b = 0; b < m_.pool().num_blocks(); ++b) {
            const auto got = incremental.owners(b);
            ASSERT_EQ(std::vector<SeqId>(got.begin(), got.end()), owners[static_cast<std::size_t>(b)]) << "block " << b;
            const KvBlock& block = m_.pool().block(b);
            ASSERT_EQ(incremental.blocks[static_cast<std::size_t>(b)].ref_count, block.ref_count) << "block " << b;
            ASSERT_EQ(incremental.blocks[static_cast<std::size_t>(b)].num_tokens, block.num_tokens) << "block " << b;
            ASSERT_EQ(incremental.blocks[static_cast<std::size_t>(b)].last_used_step, block.last_used_step);
            ASSERT_EQ(incremental.blocks[static_cast<std::size_t>(b)].hash, block.hash) << "block " << b;
        }
        last_snapshot_ = std::move(incremental);
    }

    KvCacheManager m_;
    KvSnapshot last_snapshot_;
    bool ballast_ = false;
    std::int32_t bs_;
    std::mt19937 rng_;
    std::vector<std::int32_t> memory_;  // token id per slot: what the backend's K/V stand for
    std::vector<Tokens> templates_;
    std::map<SeqId, SimSequence> live_;
    SeqId next_id_ = 1;
    Coverage coverage_;
};

struct Case {
    std::int32_t num_blocks;
    std::int32_t block_size;
    bool caching;
};

// GoogleTest prints the parameter into the test's listed name; bytewise it would show the padding.
void PrintTo(const Case& c, std::ostream* os) {
    *os << c.num_blocks << " blocks of " << c.block_size << ", prefix caching " << (c.caching ? "on" : "off");
}

class KvCacheRandomTest : public ::testing::TestWithParam<Case> {};

TEST_P(KvCacheRandomTest, InvariantsHoldAfterEveryOperation) {
    const Case c = GetParam();
    Coverage total;
    std::int64_t hit_tokens = 0;
    for (const std::uint32_t seed : {1u, 2u, 3u, 4u}) {
        Workload w(KvCacheConfig{c.num_blocks, c.block_size, c.caching}, seed);
        ASSERT_NO_FATAL_FAILURE(w.run(3000)) << "seed " << seed;
        total.hits += w.coverage().hits;
        total.copies += w.coverage().copies;
        total.out_of_blocks += w.coverage().out_of_blocks;
        total.forks += w.coverage().forks;
        total.preemptions += w.coverage().preemptions;
        hit_tokens += w.manager().stats().num_prefix_hit_tokens;
    }
    std::printf("coverage: hits %d (%lld tokens), copies %d, out of blocks %d, forks %d, preemptions %d\n", total.hits,
                static_cast<long long>(hit_tokens), total.copies, total.out_of_blocks, total.forks, total.preemptions);
    // The workload really went through every path.
    EXPECT_GT(total.copies, 20);
    EXPECT_GT(total.out_of_blocks, 20);
    EXPECT_GT(total.forks, 20);
    EXPECT_GT(total.preemptions, 20);
    if (c.caching) {
        EXPECT_GT(total.hits, 20);
        EXPECT_GT(hit_tokens, 0);
    } else {
        EXPECT_EQ(total.hits, 0);
    }
}

// Snapshots (each sharing what it can with the one before) of a cache of three chunks
// (KvBlockList), the workload running on the blocks on both sides of the second boundary.
TEST(KvCacheRandomSnapshotTest, IncrementalSnapshotsOfALargeCacheEqualSnapshotsFromScratch) {
    constexpr std::int32_t kChunk = KvBlockList::kBlocksPerChunk;
    for (const std::uint32_t seed : {1u, 2u}) {
        Workload w(KvCacheConfig{2 * kChunk + 300, 8, true}, seed, 2 * kChunk - 200);
        ASSERT_NO_FATAL_FAILURE(w.run(1500)) << "seed " << seed;
        EXPECT_GT(w.manager().pool().block(2 * kChunk + 10).last_used_step, 1);  // reached the last chunk
    }
}

INSTANTIATE_TEST_SUITE_P(TightCaches, KvCacheRandomTest,
                         ::testing::Values(Case{24, 8, true}, Case{12, 8, true}, Case{16, 8, false},
                                           Case{40, 16, true}),
                         [](const ::testing::TestParamInfo<Case>& info) {
                             return std::to_string(info.param.num_blocks) + "x" +
                                    std::to_string(info.param.block_size) + (info.param.caching ? "_caching" : "");
                         });

}  // namespace kv_cache_random_test
}  // namespace kvscope
