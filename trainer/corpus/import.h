#pragma once
// Importing real prepared data (units computed elsewhere, e.g. mHuBERT-25Hz k-means 500 with
// slamkit) into the same corpus layout the synthetic generator writes: vocab.json, corpus.json
// and the text / speech / interleaved shards of train, valid and test. Call ImportCorpus.
//
// Speech JSONL, one utterance per line (slamkit's feature files plus an alignment):
//   {"file_name": "a.flac", "units": [3, 49, 7, ...], "duration": [1, 2, 1, ...],
//    "aligned_text": [["the", 0.00, 0.12], ["cat", 0.12, 0.40], ...]}
//   - "duration" is optional: without it the units are frame-level and are de-duplicated here.
//   - "aligned_text" (word, start seconds, end seconds) is optional: utterances without it go to
//     the speech stream only; with it they also make an interleaved document.
// Text JSONL: {"text": "..."} per line (other fields are ignored).
// Text is tokenised per word: lower-cased, split on white space, with . , ! ? ; : split off as
// tokens of their own. The vocabulary is <unk> plus the words by descending count.
//
// Malformed lines (bad JSON, a missing or mistyped field, a unit outside [0, units), durations
// that do not match the units, an alignment outside the utterance or going backwards) are
// reported as "file:line: what" and skipped, or fail the import when `strict`. Splits are drawn
// from a hash of file_name (speech) or of the line's text, so re-importing is reproducible.
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/corpus/generate.h"

namespace sims::corpus {

struct ImportOptions {
  std::vector<std::string> speech_files;
  std::vector<std::string> text_files;
  double frame_rate_hz = 25;     // unit frames per second (mHuBERT-25Hz)
  int unit_count = 500;
  double valid_fraction = 0.05;  // of utterances / text lines, by hash
  double test_fraction = 0.05;
  bool strict = false;           // a malformed line fails the import instead of being skipped
  int max_text_tokens = 0;       // 0 = every word gets a token
  int32_t vocab_size = 0;        // 0 = used ids rounded up to a multiple of 64
  uint64_t seed = 1;             // interleaving draws
  InterleaveOptions interleave;
  void Validate() const;
};

struct ImportReport {
  std::vector<std::string> problems;  // "file:line: what", in input order
  int64_t lines_read = 0;
  int64_t lines_skipped = 0;
  std::vector<StreamStats> streams;
};

// Atomic like GenerateCorpus: nothing is left behind on failure. Throws UserError when strict
// and a line is malformed, or when no usable line remains.
ImportReport ImportCorpus(const ImportOptions& options, const std::string& out_dir, bool overwrite);

// The word tokenizer used for imported text (exposed for tests).
std::vector<std::string> SplitWords(const std::string& text);

}  // namespace sims::corpus
