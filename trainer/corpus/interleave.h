#pragma once
// Interleaving speech and text per word, as slamkit does it for the SIMS paper: choose which
// words are spoken, then emit text tokens for text words and, for each maximal run of speech
// words, the de-duplicated units whose start frame lies inside those words' alignment, with a
// modality marker at the start and at every switch. Sampled once, offline, seeded.
//
// Methods (slamkit's names):
//   poisson: spans of Poisson(lambda) words start at random unselected words, never overlapping,
//            until ceil(speech_fraction * words) words are speech. Unlike slamkit, a span is
//            clipped at an already-spoken word and at the quota instead of being redrawn, so the
//            count is exact and the loop is bounded.
//   span:    walking the words, a text word starts a speech span of round(lambda) words with
//            the probability that makes speech_fraction of words speech on average.
//   random:  each word is speech with probability speech_fraction.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "trainer/corpus/rng.h"
#include "trainer/corpus/vocab.h"

namespace sims::corpus {

enum class InterleaveMethod { kPoisson, kSpan, kRandom };

struct InterleaveOptions {
  InterleaveMethod method = InterleaveMethod::kPoisson;
  double lambda = 10;            // mean speech-span length in words (slamkit: 10)
  double speech_fraction = 0.3;  // share of words rendered as speech (slamkit: 0.3)
  void Validate() const;         // throws UserError naming "interleave.<field>"
};

InterleaveMethod ParseInterleaveMethod(const std::string& name);  // UserError on unknown names
std::string InterleaveMethodName(InterleaveMethod method);

// true = the word is speech.
std::vector<bool> ChooseSpeechWords(size_t words, const InterleaveOptions& options, Rng& rng);

// One aligned utterance in vocabulary ids: text_tokens[w] are word w's text tokens (one per
// word for the synthetic word-level tokenizer); units are de-duplicated unit ids with their
// start frames; word w spans frames [word_start[w], word_end[w]).
struct AlignedUtterance {
  std::vector<std::vector<int32_t>> text_tokens;
  std::vector<int32_t> units;
  std::vector<int32_t> unit_starts;
  std::vector<int32_t> word_start, word_end;
};

// The interleaved token sequence without BOS/EOS: a marker, a span, a marker, a span, ...
std::vector<int32_t> Interleave(const AlignedUtterance& utterance,
                                const std::vector<bool>& speech_words, const Vocabulary& vocab);

}  // namespace sims::corpus
