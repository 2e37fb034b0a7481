#pragma once
// The chat's token probabilities: each generated token's text on a background from red (the model
// thought it unlikely) to green (likely), each a link that the chat answers with the token's
// alternatives; the alternatives as a small table; and what a whole answer scores.
//
// The probabilities are the request's logprobs (vLLM's raw logprobs: the model's distribution
// before penalties, temperature and the top-k / top-p / min-p filters), so a token drawn at a high
// temperature shows how surprising it was to the model itself.

#include <QColor>
#include <QString>
#include <QUrl>
#include <optional>
#include <span>

#include "engine/sampler.h"
#include "ui/token_vocabulary.h"

namespace kvscope::ui {

// Tokens of one answer that read as one piece of text: a single token, or the byte tokens that
// make up one character between them (<0xE2><0x82><0xAC> -> "€").
struct TokenLink {
    int turn = 0;
    int sample = 0;
    int first = 0;  // the group's first token
    int count = 1;  // tokens in the group
};

QUrl tokenLinkUrl(const TokenLink& link);  // "token:turn/sample/first/count"
std::optional<TokenLink> parseTokenLink(const QUrl& url);

// The style sheet a document showing scoredTokensHtml needs (QTextDocument::setDefaultStyleSheet):
// token links read as plain text.
inline constexpr const char* kTokenLinkStyle = "a { color: #000000; text-decoration: none; }";

// p in [0, 1] -> a light background: red at 0, yellow at 0.5, green at 1.
QColor probabilityColor(double p);

// One sample's scored tokens as HTML (whitespace kept, newlines as <br>). textBytes: the UTF-8
// length of the sample's text as the chat shows it; tokens that start at or after it were held
// back as part of a stop string and are shown struck out (-1: none were). Special tokens (EOS,
// <|im_end|>) appear as small grey tags: the text leaves them out, but they were generated.
QString scoredTokensHtml(std::span<const SampleResult> tokens, const TokenVocabulary& vocabulary, int turn, int sample,
                         qsizetype textBytes);

// The tokens of a group with their probability and rank, each followed by the alternatives the
// model gave most weight (probability and a bar).
QString tokenDetailsHtml(std::span<const SampleResult> group, const TokenVocabulary& vocabulary);

struct AnswerScore {
    int numTokens = 0;
    double meanLogprob = 0;  // natural log
    double perplexity = 0;   // exp(-meanLogprob)
    double minProbability = 0;
};
// Over tokens with finite logprobs; numTokens 0 when there are none.
AnswerScore scoreAnswer(std::span<const SampleResult> tokens);

}  // namespace kvscope::ui
