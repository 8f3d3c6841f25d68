#include "trainer/hf/import_speech.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/checked.h"
#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/corpus/rng.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/speech.h"
#include "trainer/hf/hf_config.h"
#include "trainer/hf/speech_vocab.h"
#include "trainer/hf/tokenizer.h"

namespace sims::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kSplits[] = {"train", "valid", "test"};
const char* const kStreams[] = {"text", "speech", "interleaved"};

// A malformed input line: reported with its place, then skipped (or fatal when strict).
struct LineError {
  std::string what;
};

// 0 train, 1 valid, 2 test, from a hash of `key`: stable across runs and machines.
int SplitOf(const std::string& key, const SpeechImportOptions& o) {
  const double u = static_cast<double>(std::stoull(Sha256Hex(key).substr(0, 8), nullptr, 16)) /
                   4294967296.0;
  if (u < o.valid_fraction) return 1;
  if (u < o.valid_fraction + o.test_fraction) return 2;
  return 0;
}

class Writers {
 public:
  Writers(const std::string& dir, const corpus::Vocabulary& vocab) {
    for (int s = 0; s < 3; ++s) {
      fs::create_directories(fs::path(dir) / kSplits[s]);
      for (int k = 0; k < 3; ++k) {
        writers_[s][k] = std::make_unique<corpus::ShardWriter>(
            corpus::StreamShardPath(dir, kSplits[s], kStreams[k]), vocab.hash, vocab.vocab_size);
        stats_[s][k].split = kSplits[s];
        stats_[s][k].stream = kStreams[k];
      }
    }
  }
  // stream: 0 text, 1 speech, 2 interleaved. `document` excludes BOS/EOS; `frames` counts the
  // speech frames before de-duplication (0 for text).
  void Add(int split, int stream, const corpus::Vocabulary& v, std::vector<int32_t> document,
           int64_t words, int64_t frames) {
    document.insert(document.begin(), v.bos);
    document.push_back(v.eos);
    writers_[split][stream]->AddDocument(document);
    corpus::StreamStats& st = stats_[split][stream];
    st.documents += 1;
    st.tokens += static_cast<int64_t>(document.size());
    st.words += words;
    st.frames += frames;
    for (int32_t t : document) st.speech_tokens += v.IsUnit(t);
  }
  std::vector<corpus::StreamStats> Finish() {
    std::vector<corpus::StreamStats> out;
    for (int s = 0; s < 3; ++s) {
      for (int k = 0; k < 3; ++k) {
        writers_[s][k]->Finish();
        out.push_back(stats_[s][k]);
      }
    }
    return out;
  }

 private:
  std::unique_ptr<corpus::ShardWriter> writers_[3][3];
  corpus::StreamStats stats_[3][3];
};

struct Utterance {
  std::vector<int32_t> units;      // de-duplicated unit numbers in [0, unit_count)
  std::vector<int32_t> starts;     // start frame of each
  int64_t frames = 0;
  std::vector<std::string> words;  // stripped
  std::vector<int32_t> word_start, word_end;  // frames
};

Utterance ParseSpeechLine(const json& j, const SpeechImportOptions& o) {
  Utterance u;
  if (!j.is_object() || !j.contains("units") || !j["units"].is_array()) {
    throw LineError{"no \"units\" array"};
  }
  // As `sims corpus import`: the split is a hash of the file name, so a line without one has no
  // reproducible place (a line number changes when the file is re-cut).
  if (!j.contains("file_name") || !j["file_name"].is_string()) {
    throw LineError{"missing \"file_name\" (a string)"};
  }
  std::vector<int32_t> units, durations;
  for (const json& x : j["units"]) {
    if (!x.is_number_integer() || x.get<int64_t>() < 0 || x.get<int64_t>() >= o.unit_count) {
      throw LineError{fmt::format("unit {} outside [0, {})", x.dump(), o.unit_count)};
    }
    units.push_back(x.get<int32_t>());
  }
  if (units.empty()) throw LineError{"\"units\" is empty"};
  if (j.contains("duration")) {
    if (!j["duration"].is_array() || j["duration"].size() != units.size()) {
      throw LineError{fmt::format("\"duration\" must list one positive count per unit ({})",
                                  units.size())};
    }
    int64_t frame = 0;
    for (size_t i = 0; i < units.size(); ++i) {
      const json& d = j["duration"][i];
      const std::optional<int32_t> count = CheckedJsonInteger<int32_t>(d);
      if (!count || *count <= 0) {
        throw LineError{fmt::format("duration {} is not a positive integer in {}", d.dump(),
                                    RangeText<int32_t>())};
      }
      u.units.push_back(units[i]);
      u.starts.push_back(static_cast<int32_t>(frame));  // < 2^31, checked below
      frame += *count;
      if (!CheckedCast<int32_t>(frame)) {
        throw LineError{fmt::format("\"duration\" adds up to more than {} frames",
                                    std::numeric_limits<int32_t>::max())};
      }
    }
    u.frames = frame;
  } else {
    const corpus::DedupUnits dedup = corpus::Deduplicate(units);
    u.units = dedup.units;
    u.starts = dedup.starts;
    u.frames = static_cast<int64_t>(units.size());
  }
  if (j.contains("aligned_text") && !j["aligned_text"].is_null()) {
    const json& a = j["aligned_text"];
    if (!a.is_array()) throw LineError{"\"aligned_text\" is not a list of [word, start, end]"};
    int32_t previous_end = 0;
    for (const json& w : a) {
      if (!w.is_array() || w.size() != 3 || !w[0].is_string() || !w[1].is_number() ||
          !w[2].is_number()) {
        throw LineError{fmt::format("alignment entry {} is not [word, start, end]", w.dump())};
      }
      std::string word = w[0].get<std::string>();
      const size_t b = word.find_first_not_of(" \t\r\n"), e = word.find_last_not_of(" \t\r\n");
      if (b == std::string::npos) continue;  // silence markers carry no word
      word = word.substr(b, e - b + 1);
      // Checked, not cast: 1e8 s at 25 Hz is 2.5e9 frames, which wraps an int32 to a negative
      // index that passes the bounds below and is read past the end of the units.
      const std::optional<int32_t> start_frame =
          CheckedCast<int32_t>(std::round(w[1].get<double>() * o.frame_rate_hz));
      const std::optional<int32_t> end_frame =
          CheckedCast<int32_t>(std::round(w[2].get<double>() * o.frame_rate_hz));
      const int32_t start = start_frame.value_or(-1), end = end_frame.value_or(-1);
      if (!start_frame || !end_frame || start < 0 || start < previous_end - 1 || end < start ||
          end > u.frames + 1) {
        throw LineError{fmt::format("alignment of '{}' [{}, {}] s goes backwards or past the "
                                    "utterance's {} frames", word, w[1].get<double>(),
                                    w[2].get<double>(), u.frames)};
      }
      previous_end = end;
      u.words.push_back(std::move(word));
      u.word_start.push_back(start);
      u.word_end.push_back(end);
    }
  }
  return u;
}

// Streams a file line by line (feature files of a large corpus are many GB).
std::ifstream OpenLines(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw UserError(fmt::format("{}: cannot read", path));
  return in;
}

}  // namespace

void SpeechImportOptions::Validate() const {
  if (checkpoint.empty()) throw UserError("import: checkpoint is required (a model directory)");
  if (speech_files.empty() && text_files.empty()) {
    throw UserError("import: give at least one speech or text file");
  }
  if (!(frame_rate_hz > 0 && std::isfinite(frame_rate_hz))) {
    throw UserError(fmt::format("import: frame_rate_hz must be a finite number > 0, got {}",
                                frame_rate_hz));
  }
  if (unit_count <= 0) throw UserError("import: unit_count must be positive");
  // Written so that NaN fails too.
  if (!(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction < 1)) {
    throw UserError(fmt::format("import: valid_fraction {} + test_fraction {} must lie in [0, 1)",
                                valid_fraction, test_fraction));
  }
  interleave.Validate();
}

SpeechImportReport ImportSpeechForCheckpoint(const SpeechImportOptions& o,
                                             const std::string& out_dir, bool overwrite) {
  o.Validate();
  const HfModelConfig config = ReadHfConfig(o.checkpoint);
  BpeTokenizer tokenizer = BpeTokenizer::Load((fs::path(o.checkpoint) / "tokenizer.json").string());
  const corpus::Vocabulary vocab = CheckpointVocabulary(tokenizer, config, o.unit_count);

  StagedFolderOptions folder = corpus::CorpusFolderOptions(overwrite);
  folder.replace_flag = "--overwrite";
  StagedFolder staged(out_dir, folder);
  const fs::path temp = staged.path();
  SpeechImportReport report;
  {  // the shard writers are finished and closed before the folder is swapped in
    corpus::SaveVocabulary(vocab, temp.string());
    Writers writers(temp.string(), vocab);
    const auto problem = [&](const std::string& file, size_t line, const std::string& what) {
      const std::string text = fmt::format("{}:{}: {}", file, line, what);
      if (o.strict) throw UserError(text + "\nhint: fix the line or import without --strict");
      report.problems.push_back(text);
      ++report.lines_skipped;
    };
    for (const std::string& file : o.speech_files) {
      std::ifstream in = OpenLines(file);
      std::string line;
      for (size_t n = 0; std::getline(in, line); ++n) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        ++report.lines_read;
        const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded()) {
          problem(file, n + 1, "not valid JSON");
          continue;
        }
        Utterance u;
        try {
          u = ParseSpeechLine(j, o);
        } catch (const LineError& e) {
          problem(file, n + 1, e.what);
          continue;
        }
        const std::string key = j["file_name"].get<std::string>();
        const int split = SplitOf(key, o);
        std::vector<int32_t> unit_ids;
        for (int32_t unit : u.units) unit_ids.push_back(vocab.Unit(unit));
        writers.Add(split, 1, vocab, unit_ids, static_cast<int64_t>(u.words.size()), u.frames);
        if (u.words.empty()) continue;
        corpus::AlignedUtterance a;
        for (size_t w = 0; w < u.words.size(); ++w) {
          a.text_tokens.push_back(tokenizer.Encode(w == 0 ? u.words[w] : " " + u.words[w]));
        }
        a.units = unit_ids;
        a.unit_starts = u.starts;
        a.word_start = u.word_start;
        a.word_end = u.word_end;
        corpus::Rng rng(corpus::DeriveSeed(o.seed, {std::stoull(Sha256Hex(key).substr(0, 15), nullptr, 16)}));
        const std::vector<bool> spoken = corpus::ChooseSpeechWords(u.words.size(), o.interleave, rng);
        int64_t spoken_words = 0;
        for (bool s : spoken) spoken_words += s;
        writers.Add(split, 2, vocab, corpus::Interleave(a, spoken, vocab), spoken_words, 0);
      }
    }
    std::string text_line;
    for (const std::string& file : o.text_files) {
      std::ifstream in = OpenLines(file);
      for (size_t n = 0; std::getline(in, text_line); ++n) {
        std::string text = text_line;
        if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
        ++report.lines_read;
        if (text.front() == '{') {
          const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
          if (j.is_discarded() || !j.contains("text") || !j["text"].is_string()) {
            problem(file, n + 1, "a JSON line without a \"text\" string");
            continue;
          }
          text = j["text"].get<std::string>();
        }
        std::vector<int32_t> ids;
        try {
          ids = tokenizer.Encode(text);
        } catch (const UserError& e) {
          problem(file, n + 1, e.what());
          continue;
        }
        writers.Add(SplitOf(text, o), 0, vocab, std::move(ids), 0, 0);
      }
    }
    report.streams = writers.Finish();
    // The same corpus.json as `sims corpus import` writes (format, source, inputs, options,
    // streams with frames, lines), so `sims corpus info` reads both alike.
    json manifest;
    manifest["format"] = "sims-corpus";
    manifest["version"] = 1;
    manifest["source"] = "import-speech";
    manifest["checkpoint"] = fs::absolute(o.checkpoint).string();
    manifest["inputs"] = {{"speech", o.speech_files}, {"text", o.text_files}};
    manifest["options"] = {{"frame_rate_hz", o.frame_rate_hz}, {"unit_count", o.unit_count},
                           {"valid_fraction", o.valid_fraction}, {"test_fraction", o.test_fraction},
                           {"seed", o.seed},
                           {"interleave", {{"method", corpus::InterleaveMethodName(o.interleave.method)},
                                           {"lambda", o.interleave.lambda},
                                           {"speech_fraction", o.interleave.speech_fraction}}}};
    manifest["vocab_hash"] = vocab.hash;
    manifest["vocab_size"] = vocab.vocab_size;
    manifest["streams"] = json::array();
    for (const corpus::StreamStats& s : report.streams) {
      manifest["streams"].push_back({{"split", s.split}, {"stream", s.stream},
                                     {"documents", s.documents}, {"tokens", s.tokens},
                                     {"words", s.words}, {"speech_tokens", s.speech_tokens},
                                     {"frames", s.frames}});
    }
    manifest["lines"] = {{"read", report.lines_read}, {"skipped", report.lines_skipped}};
    manifest["problems"] = report.problems;
    // The problems quote the input, which need not be UTF-8 (as `sims corpus import`).
    WriteFileAtomically((temp / "corpus.json").string(),
                        manifest.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
    if (report.lines_read == report.lines_skipped) {
      throw UserError("import: no usable line in the input files");
    }
    staged.Commit();
  }
  return report;
}

}  // namespace sims::hf
