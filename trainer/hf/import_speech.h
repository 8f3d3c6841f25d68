#pragma once
// Importing slamkit-prepared speech and raw text for a Hugging Face checkpoint (torch-free,
// sims_hf_io): the same corpus layout as the synthetic generator (docs/corpus.md "File formats": vocab.json,
// corpus.json, {train,valid,test}/{text,speech,interleaved}.bin), but tokenised with the
// checkpoint's tokenizer.json and with the checkpoint's vocabulary layout (speech_vocab.h).
// Call ImportSpeechForCheckpoint. (corpus/import.h is the same for the synthetic word
// tokenizer; both write shards with corpus::ShardWriter and interleave with corpus::Interleave.)
//
// Speech JSONL, one utterance per line (slamkit's extract_features output merged with its
// alignment meta file):
//   {"file_name": "a.flac", "units": [3, 49, 7], "duration": [1, 2, 1],
//    "aligned_text": [["the", 0.00, 0.12], ["cat", 0.12, 0.40]]}
//   "duration" is optional (without it the units are frame-level and are de-duplicated here);
//   "aligned_text" is optional (without it the utterance feeds the speech stream only).
//   Words are stripped and re-joined with single spaces (" cat"), as plain text tokenises.
// Text files: JSONL with a "text" field, or plain text with one document per line.
// Documents are BOS + tokens + EOS. Speech documents hold units only; interleaved ones switch
// with <speech>/<text> markers (corpus::Interleave). Splits by a hash of file_name / the text.
// Malformed lines are reported as "file:line: what" and skipped, or fail when `strict`.
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/corpus/generate.h"
#include "trainer/corpus/interleave.h"

namespace sims::hf {

struct SpeechImportOptions {
  std::string checkpoint;                // model dir with config.json and tokenizer.json
  std::vector<std::string> speech_files; // slamkit JSONL
  std::vector<std::string> text_files;   // JSONL {"text"} or plain text lines
  double frame_rate_hz = 25;             // unit frames per second (mHuBERT-25Hz)
  int32_t unit_count = 500;              // k-means clusters (the paper: 500)
  double valid_fraction = 0.01;          // by hash, as slamkit's train_val_split (1%)
  double test_fraction = 0.01;
  bool strict = false;
  uint64_t seed = 1;                     // interleaving draws
  corpus::InterleaveOptions interleave;  // slamkit: poisson, lambda 10, 30% speech
  void Validate() const;                 // UserError naming the field
};

struct SpeechImportReport {
  std::vector<std::string> problems;  // "file:line: what"
  int64_t lines_read = 0;
  int64_t lines_skipped = 0;
  std::vector<corpus::StreamStats> streams;  // split x stream
};

// Writes `out_dir` atomically (built in a sibling temporary folder and swapped in, see
// StagedFolder in common/files.h). An existing non-empty out_dir is a UserError unless it is a
// sims corpus and `overwrite`.
SpeechImportReport ImportSpeechForCheckpoint(const SpeechImportOptions& options,
                                             const std::string& out_dir, bool overwrite);

}  // namespace sims::hf
