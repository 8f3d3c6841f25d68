#pragma once
// What a corpus directory holds, read from its files alone (synthetic or imported): token counts
// per split and stream, the vocabulary, eval pair sets, and the speech statistics recorded in
// corpus.json (mean speech tokens per word, de-duplication ratio). Used by `sims corpus info`.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/corpus/vocab.h"

namespace sims::corpus {

struct ShardSummary {
  std::string split, stream;
  int64_t documents = 0;
  int64_t tokens = 0;
  int64_t unit_tokens = 0;
  int64_t text_tokens = 0;
  int64_t marker_tokens = 0;  // <speech> and <text>
};

struct CorpusSummary {
  std::string dir;
  Vocabulary vocab;
  nlohmann::json manifest;  // corpus.json (null if absent)
  std::vector<ShardSummary> shards;  // those present
  std::vector<std::pair<std::string, int64_t>> pair_sets;  // task, pairs (those present)
  double speech_tokens_per_word = 0;  // from the train speech stream's recorded stats; 0 if unknown
  double dedup_ratio = 0;             // frames per unit token; 0 if unknown
};

// Opens every shard (validating it against vocab.json); throws UserError naming a bad file.
CorpusSummary SummarizeCorpus(const std::string& corpus_dir);

}  // namespace sims::corpus
