#pragma once
// The one shared vocabulary of a corpus: special tokens, 500 speech-unit tokens and the text
// tokens, as written to `<corpus>/vocab.json` and read by the trainer. Call LoadVocabulary.
//
// Code must use the fields, never hard-coded ids: in the synthetic corpus the specials are
// 0..4, units 5..504 and text from 505, but a Hugging Face checkpoint (issue 10) puts its text
// ids first and appends units and markers. Ids in [used_size(), vocab_size) exist (vocab_size is
// rounded up to a multiple of 64 for the embedding matrix) but no corpus file ever contains one.
//
// `hash` identifies the token list (16 hex chars of sha256 over CanonicalTokenList); every shard
// and pair file carries it, so a shard is never read against the wrong vocabulary.
#include <cstdint>
#include <string>
#include <vector>

namespace sims::corpus {

struct Vocabulary {
  int32_t pad = 0;
  int32_t bos = 1;
  int32_t eos = 2;
  int32_t speech_marker = 3;  // "<speech>": the following tokens are units
  int32_t text_marker = 4;    // "<text>": the following tokens are text
  int32_t unit_begin = 5;     // unit k (0-based, k < unit_count) has id unit_begin + k
  int32_t unit_count = 500;
  int32_t text_begin = 505;   // text token j has id text_begin + j
  int32_t text_count = 0;
  int32_t vocab_size = 0;     // >= used_size(), a multiple of 64
  std::string hash;           // 16 hex chars; set by FinalizeVocabulary / LoadVocabulary
  std::vector<std::string> text_tokens;  // text_count strings; text_tokens[j] is id text_begin+j

  bool IsUnit(int32_t id) const { return id >= unit_begin && id < unit_begin + unit_count; }
  bool IsText(int32_t id) const { return id >= text_begin && id < text_begin + text_count; }
  int32_t Unit(int32_t k) const { return unit_begin + k; }
  int32_t Text(int32_t j) const { return text_begin + j; }
  // Ids that occur: the specials, the units and the text tokens (max id + 1).
  int32_t used_size() const;
};

// The synthetic layout: specials 0..4, `unit_count` units, then `text_tokens`. vocab_size is
// `min_vocab_size` if given (must be >= used size and a multiple of 64), else the used size
// rounded up to a multiple of 64. Throws UserError naming the broken rule.
Vocabulary MakeSyntheticVocabulary(std::vector<std::string> text_tokens, int32_t unit_count = 500,
                                   int32_t min_vocab_size = 0);

// Checks the layout (ranges disjoint, in [0, vocab_size), vocab_size % 64 == 0) and sets hash.
void FinalizeVocabulary(Vocabulary& vocab);

// One name per used id in id order: "<pad>", "<bos>", "<eos>", "<speech>", "<text>", "<u0>" ..
// "<u499>", then the text tokens; ids that are none of those are "<unused>".
std::vector<std::string> CanonicalTokenList(const Vocabulary& vocab);

// vocab.json (format "sims-vocab", version 1). Save writes atomically (temp + rename).
void SaveVocabulary(const Vocabulary& vocab, const std::string& corpus_dir);
// Throws UserError naming the file if it is missing, malformed, or its hash does not match
// its token list.
Vocabulary LoadVocabulary(const std::string& corpus_dir);

}  // namespace sims::corpus
