#include "trainer/data.h"

#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::trainer {
namespace {

uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Uniform in [0, 1) from the top 53 bits.
double UnitInterval(uint64_t x) { return static_cast<double>(x >> 11) * 0x1.0p-53; }

}  // namespace

const std::array<std::string, 3>& StreamNames() {
  static const std::array<std::string, 3> names = {"text", "speech", "interleaved"};
  return names;
}

MixtureSampler::MixtureSampler(const std::string& corpus_dir, const std::string& vocab_hash,
                               const DataMixture& mixture, int64_t context, uint64_t seed)
    : context_(context), seed_(seed) {
  const double weights[3] = {mixture.text, mixture.speech, mixture.interleaved};
  double total = 0;
  for (double w : weights) {
    if (w < 0) throw UserError(fmt::format("mixture weight {} is negative", w));
    total += w;
  }
  if (!(total > 0)) throw UserError("mixture: no stream has a positive weight");
  double cumulative = 0;
  for (int s = 0; s < 3; ++s) {
    if (weights[s] <= 0) continue;
    cumulative += weights[s] / total;
    const std::string path = corpus::StreamShardPath(corpus_dir, "train", StreamNames()[s]);
    corpus::ShardReader shard = corpus::ShardReader::Open(path, vocab_hash);
    if (shard.size() < context + 1) {
      throw UserError(fmt::format(
          "{}: {} tokens, fewer than context + 1 = {}; hint: generate a larger corpus or plan a "
          "shorter context", path, shard.size(), context + 1));
    }
    streams_.push_back({s, cumulative, std::move(shard)});
  }
  streams_.back().cumulative_weight = 1.0;  // no rounding gap at the top
}

int MixtureSampler::StreamOf(int64_t i) const {
  const double u = UnitInterval(SplitMix64(seed_ ^ SplitMix64(2 * static_cast<uint64_t>(i))));
  for (const Stream& s : streams_) {
    if (u < s.cumulative_weight) return s.index;
  }
  return streams_.back().index;
}

torch::Tensor MixtureSampler::Batch(int64_t first, int64_t rows) const {
  torch::Tensor batch = torch::empty({rows, context_ + 1}, torch::kInt64);
  int64_t* out = batch.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = first + r;
    const int stream = StreamOf(i);
    const Stream* s = &streams_.front();
    for (const Stream& candidate : streams_) {
      if (candidate.index == stream) s = &candidate;
    }
    const uint64_t starts = static_cast<uint64_t>(s->shard.size() - context_);  // >= 1
    const uint64_t h = SplitMix64(seed_ ^ SplitMix64(2 * static_cast<uint64_t>(i) + 1));
    const int64_t begin = static_cast<int64_t>(h % starts);
    s->shard.CopyTokens(begin, context_ + 1, out + r * (context_ + 1));
  }
  return batch;
}

std::vector<ValidationSet> LoadValidationSets(const std::string& corpus_dir,
                                              const std::string& vocab_hash, int64_t context,
                                              int64_t max_windows) {
  std::vector<ValidationSet> sets;
  for (const std::string& stream : StreamNames()) {
    const std::string path = corpus::StreamShardPath(corpus_dir, "valid", stream);
    if (!std::filesystem::exists(path)) continue;
    corpus::ShardReader shard = corpus::ShardReader::Open(path, vocab_hash);
    const int64_t n = std::min(max_windows, shard.size() / (context + 1));
    if (n < 1) {
      throw UserError(fmt::format("{}: {} tokens, fewer than one validation window of {}", path,
                                  shard.size(), context + 1));
    }
    torch::Tensor windows = torch::empty({n, context + 1}, torch::kInt64);
    shard.CopyTokens(0, n * (context + 1), windows.data_ptr<int64_t>());
    sets.push_back({stream, windows});
  }
  return sets;
}

}  // namespace sims::trainer
