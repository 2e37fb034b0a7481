// SentencePiece BPE with scores ("llama" vocabularies), as llama.cpp runs it:
//   1. prepend " " (the dummy prefix) when asked, and write every space as U+2581 "▁";
//   2. split into characters: one symbol per UTF-8 character (an ill-formed byte run is one
//      symbol too, and ends up as byte tokens);
//   3. repeatedly merge the adjacent pair whose concatenation is the vocabulary token with the
//      highest score (ties: the leftmost pair), using a priority queue of candidate pairs and a
//      linked list of symbols, so the whole text costs O(n log n);
//   4. each final symbol is its token; a character with no token falls back to its bytes'
//      <0xXX> tokens, or, when the vocabulary lacks one of them, to a single <unk>.

#include <queue>

#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace kvscope {

namespace {

struct SpmSymbol {
    std::int32_t prev;
    std::int32_t next;
    std::size_t begin;   // byte offset in the escaped text
    std::size_t length;  // bytes; 0 once merged into the symbol on its left
};

struct SpmPair {
    float score;
    std::int32_t left;
    std::int32_t right;
    std::size_t length;  // left.length + right.length when the pair was queued
};

// The priority queue's "less": lower score, or the same score further right.
struct SpmPairLess {
    bool operator()(const SpmPair& a, const SpmPair& b) const {
        return a.score < b.score || (a.score == b.score && a.left > b.left);
    }
};

}  // namespace

void Tokenizer::encode_spm(std::string_view text, bool after_special, std::vector<std::int32_t>& out) const {
    // Step 1: the dummy prefix and the escaped spaces.
    std::string escaped;
    escaped.reserve(text.size() + 8);
    if (add_space_prefix_ && after_special) escaped.append("\xE2\x96\x81");
    for (char ch : text) {
        if (ch == ' ') {
            escaped.append("\xE2\x96\x81");
        } else {
            escaped.push_back(ch);
        }
    }

    // Step 2: one symbol per character.
    std::vector<SpmSymbol> symbols;
    symbols.reserve(escaped.size());
    for (std::size_t pos = 0; pos < escaped.size();) {
        const std::uint8_t length = utf8_next(escaped, pos).length;
        const auto index = static_cast<std::int32_t>(symbols.size());
        symbols.push_back({index - 1, -1, pos, length});
        if (index > 0) symbols[index - 1].next = index;
        pos += length;
    }
    if (symbols.empty()) return;

    // Step 3: merge the best pair until no adjacent pair forms a token.
    std::priority_queue<SpmPair, std::vector<SpmPair>, SpmPairLess> queue;
    auto try_queue_pair = [&](std::int32_t left, std::int32_t right) {
        if (left < 0 || right < 0) return;
        const std::size_t length = symbols[left].length + symbols[right].length;
        if (length > max_token_bytes_) return;
        const auto id = lookup(std::string_view(escaped).substr(symbols[left].begin, length));
        if (!id) return;
        queue.push({tokens_[*id].score, left, right, length});
    };
    for (std::int32_t i = 1; i < static_cast<std::int32_t>(symbols.size()); ++i) try_queue_pair(i - 1, i);
    while (!queue.empty()) {
        const SpmPair pair = queue.top();
        queue.pop();
        SpmSymbol& left = symbols[pair.left];
        SpmSymbol& right = symbols[pair.right];
        // Stale: one side was merged away, or the right side grew since the pair was queued.
        if (left.length == 0 || right.length == 0 || left.length + right.length != pair.length) continue;
        left.length += right.length;
        right.length = 0;
        left.next = right.next;
        if (right.next >= 0) symbols[right.next].prev = pair.left;
        try_queue_pair(left.prev, pair.left);
        try_queue_pair(pair.left, left.next);
    }

    // Step 4: symbols -> ids, with byte fallback.
    for (std::int32_t i = 0; i >= 0; i = symbols[i].next) {
        const std::string_view piece = std::string_view(escaped).substr(symbols[i].begin, symbols[i].length);
        if (const auto id = lookup(piece)) {
            out.push_back(*id);
        } else if (has_byte_tokens(piece) || unk_id_ < 0) {
            append_byte_tokens(piece, out);
        } else {
            out.push_back(unk_id_);  // one <unk> per unknown character, as SentencePiece does
        }
    }
}

}  // namespace kvscope
