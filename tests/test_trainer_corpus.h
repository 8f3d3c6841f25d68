#pragma once
// A tiny learnable corpus for the trainer tests, written with the corpus library in
// milliseconds. Speech documents follow the unit chain k -> (3k + 1) mod 20 from a random
// start; text documents cycle through 8 text tokens; interleaved documents switch between the
// two with markers. A bigram model predicts every stream almost perfectly, so a few dozen steps
// of a one-layer model visibly lower the loss. Pair set sblimp/speech: positive = 8 units of
// the chain, negative = the same units shuffled (broken transitions).
#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "sweeps/run_config.h"
#include "trainer/corpus/pairs.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace sims::testing {

inline int32_t NextUnit(int32_t k) { return (3 * k + 1) % 20; }

inline std::vector<int32_t> UnitChain(const corpus::Vocabulary& v, int32_t start, int n) {
  std::vector<int32_t> out;
  for (int32_t k = start, i = 0; i < n; ++i, k = NextUnit(k)) out.push_back(v.Unit(k));
  return out;
}

inline std::vector<int32_t> TextCycle(const corpus::Vocabulary& v, int32_t start, int n) {
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) out.push_back(v.Text((start + i) % v.text_count));
  return out;
}

inline corpus::Vocabulary WriteTinyCorpus(const std::string& dir, int documents = 200) {
  corpus::Vocabulary vocab =
      corpus::MakeSyntheticVocabulary({"a", "b", "c", "d", "e", "f", "g", "h"});
  for (const char* sub : {"train", "valid", "eval"}) {
    std::filesystem::create_directories(std::filesystem::path(dir) / sub);
  }
  corpus::SaveVocabulary(vocab, dir);
  std::mt19937 rng(7);
  for (const std::string split : {"train", "valid"}) {
    for (const std::string stream : {"text", "speech", "interleaved"}) {
      corpus::ShardWriter writer(corpus::StreamShardPath(dir, split, stream), vocab.hash,
                                 vocab.vocab_size);
      const int n_docs = split == "train" ? documents : documents / 4;
      for (int d = 0; d < n_docs; ++d) {
        std::vector<int32_t> doc = {vocab.bos};
        const int32_t start = static_cast<int32_t>(rng() % 20);
        if (stream == "speech") {
          auto units = UnitChain(vocab, start, 24);
          doc.insert(doc.end(), units.begin(), units.end());
        } else if (stream == "text") {
          auto text = TextCycle(vocab, start % 8, 16);
          doc.insert(doc.end(), text.begin(), text.end());
        } else {
          auto text = TextCycle(vocab, start % 8, 6);
          auto units = UnitChain(vocab, start, 10);
          doc.push_back(vocab.text_marker);
          doc.insert(doc.end(), text.begin(), text.end());
          doc.push_back(vocab.speech_marker);
          doc.insert(doc.end(), units.begin(), units.end());
        }
        doc.push_back(vocab.eos);
        writer.AddDocument(doc);
      }
      writer.Finish();
    }
  }
  corpus::PairSet pairs;
  pairs.task = "sblimp/speech";
  for (int i = 0; i < 40; ++i) {
    corpus::EvalPair pair;
    pair.positive = UnitChain(vocab, i % 20, 8);
    pair.negative = pair.positive;
    std::shuffle(pair.negative.begin(), pair.negative.end(), rng);
    if (pair.negative == pair.positive) std::swap(pair.negative[0], pair.negative[7]);
    pairs.pairs.push_back(pair);
  }
  corpus::WritePairSet(dir, pairs, vocab.hash, vocab.vocab_size);
  return vocab;
}

// A small planned run on the tiny corpus: 1 layer, d_model 32, context 32, 4 rows per micro
// batch, 2 micro batches per step.
inline RunConfig TinyRunConfig(const corpus::Vocabulary& vocab, const std::string& corpus_dir,
                               int64_t steps) {
  RunConfig c;
  c.sweep = "tiny";
  c.condition = "interleaved";
  c.design = sims::DesignKind::kGrid;
  c.seed = 11;
  c.shape = {.layers = 1, .d_model = 32, .heads = 2, .kv_heads = 2, .d_ff = 64,
             .vocab_size = vocab.vocab_size, .tied_embeddings = true, .qkv_bias = false};
  c.mixture = {.text = 1, .speech = 1, .interleaved = 1};
  c.hp.lr = 3e-3;
  c.hp.context = 32;
  c.hp.micro_batch_tokens = 4 * 32;
  c.hp.batch_tokens = 8 * 32;
  c.hp.eval_every = 0;
  c.steps = steps;
  c.tokens = steps * c.hp.batch_tokens;
  c.corpus = corpus_dir;
  return c;
}

}  // namespace sims::testing
