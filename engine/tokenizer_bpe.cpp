// Byte-level BPE ("gpt2" vocabularies), as llama.cpp runs it:
//   1. read ill-formed UTF-8 as U+FFFD, then split the text into words with the model's
//      pre-tokenizer (pretokenizer.h);
//   2. map each word's bytes to GPT-2's printable code points; with the Llama-3 pre-tokenizer a
//      word that is itself a token is taken whole ("ignore_merges");
//   3. start from one symbol per byte and repeatedly merge the adjacent pair with the lowest
//      rank in tokenizer.ggml.merges (ties: the leftmost), with a priority queue and a linked
//      list as in tokenizer_spm.cpp;
//   4. each final symbol is its token; one that is not in the vocabulary falls back to its
//      bytes' single-character tokens, or to <unk>.

#include <queue>

#include "engine/tokenizer.h"
#include "engine/unicode.h"

namespace kvscope {

namespace {

struct BpeSymbol {
    std::int32_t prev;
    std::int32_t next;
    std::size_t begin;       // offset in the mapped word (UTF-8 of the mapped code points)
    std::size_t length;      // mapped bytes; 0 once merged into the symbol on its left
    std::size_t byte_begin;  // the same symbol in the original word's bytes
    std::size_t byte_length;
};

struct BpePair {
    std::int32_t rank;
    std::int32_t left;
    std::int32_t right;
    std::size_t length;  // left.length + right.length when the pair was queued
};

// The priority queue's "less": a higher rank, or the same rank further right.
struct BpePairLess {
    bool operator()(const BpePair& a, const BpePair& b) const {
        return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
    }
};

}  // namespace

void Tokenizer::encode_bpe(std::string_view raw_text, std::vector<std::int32_t>& out) const {
    // Step 1: valid UTF-8, split into words.
    const std::string text = utf8_sanitize(raw_text);
    std::vector<std::pair<std::size_t, std::size_t>> words;
    pre_tokenize(pre_, text, words);

    std::string mapped;
    std::string pair_key;
    std::vector<BpeSymbol> symbols;
    std::priority_queue<BpePair, std::vector<BpePair>, BpePairLess> queue;
    for (const auto& [word_begin, word_end] : words) {
        const std::string_view word = std::string_view(text).substr(word_begin, word_end - word_begin);

        // Step 2: bytes -> mapped code points, one symbol per byte.
        mapped.clear();
        symbols.clear();
        for (std::size_t i = 0; i < word.size(); ++i) {
            const std::size_t begin = mapped.size();
            utf8_append(mapped, byte_to_codepoint(static_cast<std::uint8_t>(word[i])));
            const auto index = static_cast<std::int32_t>(symbols.size());
            symbols.push_back({index - 1, -1, begin, mapped.size() - begin, i, 1});
            if (index > 0) symbols[index - 1].next = index;
        }
        if (ignore_merges_) {
            if (const auto id = lookup(mapped)) {
                out.push_back(*id);
                continue;
            }
        }

        // Step 3: merge by rank.
        auto try_queue_pair = [&](std::int32_t left, std::int32_t right) {
            if (left < 0 || right < 0) return;
            const BpeSymbol& l = symbols[left];
            const BpeSymbol& r = symbols[right];
            pair_key.assign(mapped, l.begin, l.length).append(" ").append(mapped, r.begin, r.length);
            const auto it = merge_ranks_.find(std::string_view(pair_key));
            if (it == merge_ranks_.end()) return;
            queue.push({it->second, left, right, l.length + r.length});
        };
        for (std::int32_t i = 1; i < static_cast<std::int32_t>(symbols.size()); ++i) try_queue_pair(i - 1, i);
        while (!queue.empty()) {
            const BpePair pair = queue.top();
            queue.pop();
            BpeSymbol& left = symbols[pair.left];
            BpeSymbol& right = symbols[pair.right];
            if (left.length == 0 || right.length == 0 || left.length + right.length != pair.length) continue;
            left.length += right.length;
            left.byte_length += right.byte_length;
            right.length = 0;
            left.next = right.next;
            if (right.next >= 0) symbols[right.next].prev = pair.left;
            try_queue_pair(left.prev, pair.left);
            try_queue_pair(pair.left, left.next);
        }

        // Step 4: symbols -> ids, with byte fallback.
        for (std::int32_t i = 0; i >= 0 && !symbols.empty(); i = symbols[i].next) {
            const BpeSymbol& symbol = symbols[i];
            if (const auto id = lookup(std::string_view(mapped).substr(symbol.begin, symbol.length))) {
                out.push_back(*id);
            } else {
                append_byte_tokens(word.substr(symbol.byte_begin, symbol.byte_length), out);
            }
        }
    }
}

}  // namespace kvscope
