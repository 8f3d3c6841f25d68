#pragma once
// Training and validation data of a run, read from the corpus shards (memory-mapped).
// Build a MixtureSampler for training, ValidationWindows for held-out loss.
//
// Training samples are windows of context+1 tokens (inputs and shifted targets), drawn from
// the three train streams with the mixture's weights. Sample i is a pure function of
// (seed, i): a SplitMix64 hash picks the stream and the window's start, uniform over every
// start in the stream. So the sampler's whole state is the number of samples drawn, a resumed
// run draws exactly what an uninterrupted one would, and any worker can draw any sample.
// Windows cross document boundaries (each document carries its own BOS/EOS), as in packed
// pre-training; every window consumes `context` training tokens (its targets).
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sweeps/run_config.h"
#include "trainer/corpus/shard.h"

namespace sims::trainer {

// The three stream names in a fixed order: text, speech, interleaved.
const std::array<std::string, 3>& StreamNames();

class MixtureSampler {
 public:
  // Opens <corpus>/train/<stream>.bin for every stream with a positive weight. Throws
  // UserError naming the shard if one is missing, of another vocabulary, or shorter than
  // context + 1 tokens; or if no weight is positive.
  MixtureSampler(const std::string& corpus_dir, const std::string& vocab_hash,
                 const DataMixture& mixture, int64_t context, uint64_t seed);
  // Samples [first, first + rows) as a (rows, context + 1) int64 tensor on the CPU.
  torch::Tensor Batch(int64_t first, int64_t rows) const;
  // Which stream sample i comes from (index into StreamNames()).
  int StreamOf(int64_t i) const;

 private:
  struct Stream {
    int index;
    double cumulative_weight;
    corpus::ShardReader shard;
  };
  std::vector<Stream> streams_;
  int64_t context_;
  uint64_t seed_;
};

// Fixed held-out windows of one stream of the valid split: non-overlapping windows of
// context + 1 tokens from the start of the shard, at most max_windows of them.
struct ValidationSet {
  std::string stream;      // text | speech | interleaved
  torch::Tensor windows;   // (n, context + 1) int64, CPU
};

// One set per stream whose valid shard exists; streams without a valid shard are skipped (a
// text-only corpus has no speech loss). Throws UserError if a shard exists but is too short.
std::vector<ValidationSet> LoadValidationSets(const std::string& corpus_dir,
                                              const std::string& vocab_hash, int64_t context,
                                              int64_t max_windows);

}  // namespace sims::trainer
