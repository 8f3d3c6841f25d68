#include "trainer/corpus/info.h"

#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/corpus/pairs.h"
#include "trainer/corpus/shard.h"

namespace sims::corpus {

CorpusSummary SummarizeCorpus(const std::string& corpus_dir) {
  namespace fs = std::filesystem;
  CorpusSummary s;
  s.dir = corpus_dir;
  s.vocab = LoadVocabulary(corpus_dir);
  const fs::path manifest = fs::path(corpus_dir) / "corpus.json";
  if (fs::exists(manifest)) {
    try {
      s.manifest = nlohmann::json::parse(ReadWholeFile(manifest.string()));
    } catch (const nlohmann::json::exception& e) {
      throw UserError(fmt::format("{}: not valid JSON: {}", manifest.string(), e.what()));
    }
  }
  std::vector<int64_t> buffer;
  for (const char* split : {"train", "valid", "test"}) {
    for (const char* stream : {"text", "speech", "interleaved"}) {
      const std::string path = StreamShardPath(corpus_dir, split, stream);
      if (!fs::exists(path)) continue;
      const ShardReader reader = ShardReader::Open(path, s.vocab.hash);
      ShardSummary sum{split, stream, reader.document_count(), reader.size()};
      constexpr int64_t kBlock = 1 << 16;
      buffer.resize(kBlock);
      for (int64_t begin = 0; begin < reader.size(); begin += kBlock) {
        const int64_t n = std::min(kBlock, reader.size() - begin);
        reader.CopyTokens(begin, n, buffer.data());
        for (int64_t i = 0; i < n; ++i) {
          const auto t = static_cast<int32_t>(buffer[i]);
          sum.unit_tokens += s.vocab.IsUnit(t);
          // A checkpoint's BOS/EOS lie inside its text ids; they are not text of the document.
          sum.text_tokens += s.vocab.IsText(t) && !s.vocab.IsSpecial(t);
          sum.marker_tokens += t == s.vocab.speech_marker || t == s.vocab.text_marker;
        }
      }
      s.shards.push_back(sum);
    }
  }
  for (const std::string& task : PairTasks()) {
    const fs::path path = fs::path(corpus_dir) / PairSetRelativePath(task);
    if (!fs::exists(path)) continue;
    const ShardReader reader = ShardReader::Open(path.string(), s.vocab.hash, ShardKind::kPairs);
    s.pair_sets.emplace_back(task, reader.document_count() / 3);
  }
  if (s.manifest.is_null()) return s;
  // corpus.json is only described, never trusted: a field of another type is a UserError naming
  // the file and the key (nlohmann's own type_error would be an "internal error").
  const std::string file = manifest.string();
  const auto fail = [&](const std::string& key, const nlohmann::json& value, const char* expected) {
    throw UserError(fmt::format("{}: {} = {} must be {}; hint: corpus.json is written by sims "
                                "corpus generate|import, regenerate the corpus",
                                file, key, value.dump().substr(0, 60), expected));
  };
  if (!s.manifest.is_object()) fail("(the whole file)", s.manifest, "a JSON object");
  if (s.manifest.contains("source") && !s.manifest["source"].is_string()) {
    fail("source", s.manifest["source"], "a string");
  }
  if (!s.manifest.contains("streams")) return s;
  const nlohmann::json& streams = s.manifest["streams"];
  if (!streams.is_array()) fail("streams", streams, "an array of objects");
  for (size_t i = 0; i < streams.size(); ++i) {
    const nlohmann::json& st = streams[i];
    const std::string at = fmt::format("streams[{}]", i);
    if (!st.is_object()) fail(at, st, "an object");
    const auto text = [&](const char* key) {
      if (!st.contains(key)) return std::string();
      if (!st[key].is_string()) fail(at + "." + key, st[key], "a string");
      return st[key].get<std::string>();
    };
    const auto count = [&](const char* key) {
      if (!st.contains(key)) return 0.0;
      if (!st[key].is_number() || !(st[key].get<double>() >= 0)) {
        fail(at + "." + key, st[key], "a number >= 0");
      }
      return st[key].get<double>();
    };
    const std::string split = text("split"), stream = text("stream");
    const double words = count("words"), units = count("speech_tokens"), frames = count("frames");
    if (split == "train" && stream == "speech") {
      if (words > 0) s.speech_tokens_per_word = units / words;
      if (units > 0) s.dedup_ratio = frames / units;
    }
  }
  return s;
}

}  // namespace sims::corpus
