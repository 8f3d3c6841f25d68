#include "trainer/corpus/pairs.h"

#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace sims::corpus {

const std::vector<std::string>& PairTasks() {
  static const std::vector<std::string> tasks = {
      "sblimp/speech",   "sblimp/text",      "ssc/speech",          "ssc/text",
      "ssc/text2speech", "ssc/speech2text",  "tsc/speech",          "tsc/text",
      "tsc/text2speech", "tsc/speech2text"};
  return tasks;
}

std::string PairSetRelativePath(const std::string& task) {
  std::string name = task;
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return "eval/" + name + ".bin";
}

PairSet LoadPairSet(const std::string& corpus_dir, const std::string& task) {
  const Vocabulary vocab = LoadVocabulary(corpus_dir);
  const std::string path =
      (std::filesystem::path(corpus_dir) / PairSetRelativePath(task)).string();
  const ShardReader reader = ShardReader::Open(path, vocab.hash, ShardKind::kPairs);
  if (reader.document_count() % 3 != 0) {
    throw UserError(fmt::format("pair set {}: {} documents is not a multiple of 3 (prefix, "
                                "positive, negative per pair)",
                                path, reader.document_count()));
  }
  PairSet set;
  set.task = task;
  set.pairs.resize(static_cast<size_t>(reader.document_count() / 3));
  for (size_t i = 0; i < set.pairs.size(); ++i) {
    set.pairs[i].prefix = reader.DocumentTokens(3 * static_cast<int64_t>(i));
    set.pairs[i].positive = reader.DocumentTokens(3 * static_cast<int64_t>(i) + 1);
    set.pairs[i].negative = reader.DocumentTokens(3 * static_cast<int64_t>(i) + 2);
  }
  return set;
}

void WritePairSet(const std::string& corpus_dir, const PairSet& set, const std::string& vocab_hash,
                  int32_t vocab_size) {
  const std::filesystem::path path =
      std::filesystem::path(corpus_dir) / PairSetRelativePath(set.task);
  std::filesystem::create_directories(path.parent_path());
  ShardWriter writer(path.string(), vocab_hash, vocab_size, ShardKind::kPairs);
  for (const EvalPair& p : set.pairs) {
    writer.AddDocument(p.prefix);
    writer.AddDocument(p.positive);
    writer.AddDocument(p.negative);
  }
  writer.Finish();
}

}  // namespace sims::corpus
