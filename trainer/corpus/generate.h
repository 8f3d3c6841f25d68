#pragma once
// Generating a synthetic corpus directory (docs/corpus.md "File formats") from one config: the world
// (world.h), its speech (speech.h), the three streams per split, the ten eval pair sets, and
// vocab.json / corpus.json. Call LoadCorpusConfig (or fill a CorpusConfig), then GenerateCorpus.
//
// Determinism: every story, rendering and interleaving is drawn from a seed derived from
// (config seed, split, stream, chunk, item), and chunks are concatenated in order, so the same
// config gives byte-identical files whatever the thread count.
//
// Splits: train uses train plots and train speakers (plus the synthetic voice, if asked);
// valid, test and eval use held-out plots and held-out speakers only.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "trainer/corpus/interleave.h"
#include "trainer/corpus/speech.h"
#include "trainer/corpus/world.h"

namespace sims::corpus {

struct SizeOptions {
  int64_t train_tokens = 3'000'000;  // per stream: stories are added until a stream has this many
  int64_t valid_tokens = 40'000;     // per stream
  int64_t test_tokens = 40'000;      // per stream
  int eval_pairs = 1000;             // per task (ten tasks)
  int eval_story_sentences = 3;      // sSC/tSC stories: short, so evaluating them is cheap
  int sblimp_max_words = 8;          // sBLIMP sentences: short for the same reason
  void Validate() const;             // throws UserError naming "size.<field>"
};

struct CorpusConfig {
  uint64_t seed = 1;
  int32_t vocab_size = 0;  // 0 = used ids rounded up to a multiple of 64; else exactly this
  WorldOptions world;
  SpeechOptions speech;
  InterleaveOptions interleave;
  SizeOptions size;
  void Validate() const;
};

// Reads a TOML file: top-level `seed`, `vocab_size`, tables [world], [speech], [interleave]
// (method = "poisson" | "span" | "random", lambda, speech_fraction) and [size]. Unknown keys
// and wrong types are UserErrors naming the file and key.
CorpusConfig LoadCorpusConfig(const std::string& toml_path);
nlohmann::json ToJson(const CorpusConfig& config);

struct StreamStats {
  std::string split, stream;  // e.g. "train", "speech"
  int64_t documents = 0;
  int64_t tokens = 0;         // everything in the shard, BOS/EOS/markers included
  int64_t words = 0;          // words rendered (the spoken ones, for speech and interleaved)
  int64_t speech_tokens = 0;  // unit tokens
  int64_t frames = 0;         // frames before de-duplication (of the unit tokens kept)
};

struct CorpusStats {
  std::vector<StreamStats> streams;
  int64_t eval_pairs = 0;     // over all tasks
  int64_t total_tokens = 0;   // streams plus eval sets
  double wall_seconds = 0;
};

// Writes the corpus into `out_dir` atomically: everything goes to a sibling temporary folder
// that is swapped in at the end (StagedFolder, common/files.h). An existing non-empty `out_dir`
// is a UserError unless it is a sims corpus and `overwrite`; so are `.` and the current folder's
// ancestors. threads = 0 uses the hardware concurrency.
CorpusStats GenerateCorpus(const CorpusConfig& config, const std::string& out_dir, int threads,
                           bool overwrite);

// The generator's text tokens: one per word form of the world, in lexicon order.
std::vector<std::string> TextTokens(const World& world);

}  // namespace sims::corpus
