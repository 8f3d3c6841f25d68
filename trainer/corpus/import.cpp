#include "trainer/corpus/import.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/checked.h"
#include "common/error.h"
#include "common/sha256.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace sims::corpus {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const char* const kSplits[] = {"train", "valid", "test"};

struct SpeechLine {
  std::string file_name;
  std::vector<int32_t> units;      // de-duplicated, 0-based
  std::vector<int32_t> durations;  // frames per unit
  std::vector<std::string> words;  // aligned words (empty when there is no alignment)
  std::vector<int32_t> word_start, word_end;  // frames
  bool aligned = false;
  int split = 0;
  uint64_t seed = 0;
};

struct TextLine {
  std::vector<std::string> words;
  int split = 0;
};

// A malformed line: the message is "what is wrong"; the caller adds file and line.
struct LineError {
  std::string what;
};

int SplitOf(const std::string& key, const ImportOptions& o) {
  const double u = static_cast<double>(std::stoull(Sha256Hex(key).substr(0, 8), nullptr, 16)) / 4294967296.0;
  if (u < o.valid_fraction) return 1;
  if (u < o.valid_fraction + o.test_fraction) return 2;
  return 0;
}

SpeechLine ParseSpeechLine(const std::string& text, const ImportOptions& o) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw LineError{fmt::format("not valid JSON ({})", e.what())};
  }
  if (!j.is_object()) throw LineError{"not a JSON object"};
  SpeechLine line;
  if (!j.contains("file_name") || !j["file_name"].is_string()) {
    throw LineError{"missing \"file_name\" (a string)"};
  }
  line.file_name = j["file_name"].get<std::string>();
  if (!j.contains("units") || !j["units"].is_array() || j["units"].empty()) {
    throw LineError{"missing \"units\" (a non-empty array of unit ids)"};
  }
  std::vector<int32_t> units;
  for (size_t i = 0; i < j["units"].size(); ++i) {
    const json& u = j["units"][i];
    if (!u.is_number_integer() || u.get<int64_t>() < 0 || u.get<int64_t>() >= o.unit_count) {
      throw LineError{fmt::format("units[{}] = {} is not a unit id in [0, {})", i, u.dump(), o.unit_count)};
    }
    units.push_back(u.get<int32_t>());
  }
  std::vector<int32_t> durations;
  if (j.contains("duration")) {
    const json& d = j["duration"];
    if (!d.is_array() || d.size() != units.size()) {
      throw LineError{fmt::format("\"duration\" must be an array as long as \"units\" ({} entries)", units.size())};
    }
    for (size_t i = 0; i < d.size(); ++i) {
      const std::optional<int32_t> frames = CheckedJsonInteger<int32_t>(d[i]);
      if (!frames || *frames <= 0) {
        throw LineError{fmt::format("duration[{}] = {} is not a positive frame count in {}", i,
                                    d[i].dump(), RangeText<int32_t>())};
      }
      durations.push_back(*frames);
    }
  } else {
    durations.assign(units.size(), 1);  // frame-level units: de-duplicated below
  }
  // Frame indices are int32 downstream (AlignedUtterance), so the utterance must fit in them.
  int64_t all_frames = 0;
  for (int32_t d : durations) all_frames += d;
  if (!CheckedCast<int32_t>(all_frames)) {
    throw LineError{fmt::format("\"duration\" adds up to {} frames, more than {}", all_frames,
                                std::numeric_limits<int32_t>::max())};
  }
  // Collapse repeats (raw frames, or de-duplicated files that still have runs) keeping frames.
  for (size_t i = 0; i < units.size(); ++i) {
    if (!line.units.empty() && line.units.back() == units[i]) {
      line.durations.back() += durations[i];
    } else {
      line.units.push_back(units[i]);
      line.durations.push_back(durations[i]);
    }
  }
  int64_t total_frames = 0;
  for (int32_t d : line.durations) total_frames += d;
  if (j.contains("aligned_text") && !j["aligned_text"].is_null()) {
    const json& a = j["aligned_text"];
    if (!a.is_array()) throw LineError{"\"aligned_text\" must be an array of [word, start, end]"};
    double previous_start = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      const json& w = a[i];
      if (!w.is_array() || w.size() != 3 || !w[0].is_string() || !w[1].is_number() || !w[2].is_number()) {
        throw LineError{fmt::format("aligned_text[{}] = {} is not [word, start, end]", i, w.dump())};
      }
      const double start = w[1].get<double>(), end = w[2].get<double>();
      if (!(start >= 0) || !(end >= start) || start < previous_start) {
        throw LineError{fmt::format("aligned_text[{}]: times {}..{} go backwards", i, start, end)};
      }
      // Checked, not cast: 1e8 s at 25 Hz is 2.5e9 frames, which wraps an int32 to a negative
      // index that passes the bound below and is read past the end of the units.
      const std::optional<int32_t> start_frame =
          CheckedCast<int32_t>(std::round(start * o.frame_rate_hz));
      const std::optional<int32_t> end_frame =
          CheckedCast<int32_t>(std::round(end * o.frame_rate_hz));
      // One frame of rounding slack at the end.
      if (!start_frame || !end_frame || *end_frame > total_frames + 1) {
        throw LineError{fmt::format("aligned_text[{}] ends at {} s, after the units end ({} frames = {} s)",
                                    i, end, total_frames, static_cast<double>(total_frames) / o.frame_rate_hz)};
      }
      previous_start = start;
      line.words.push_back(w[0].get<std::string>());
      line.word_start.push_back(*start_frame);
      line.word_end.push_back(*end_frame);
    }
    line.aligned = !line.words.empty();
  }
  line.split = SplitOf(line.file_name, o);
  return line;
}

TextLine ParseTextLine(const std::string& text, const ImportOptions& o) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw LineError{fmt::format("not valid JSON ({})", e.what())};
  }
  if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
    throw LineError{"missing \"text\" (a string)"};
  }
  TextLine line;
  line.words = SplitWords(j["text"].get<std::string>());
  if (line.words.empty()) throw LineError{"\"text\" has no words"};
  line.split = SplitOf(j["text"].get<std::string>(), o);
  return line;
}

// Reads every line of every file with `parse`; malformed lines are collected or, if strict, thrown.
template <typename Line, typename Parse>
std::vector<Line> ReadLines(const std::vector<std::string>& files, const ImportOptions& o,
                            ImportReport& report, Parse parse) {
  std::vector<Line> lines;
  for (const std::string& file : files) {
    std::ifstream in(file);
    if (!in) throw UserError(fmt::format("cannot read {}", file));
    std::string text;
    int64_t number = 0;
    while (std::getline(in, text)) {
      ++number;
      if (text.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank lines are fine
      ++report.lines_read;
      try {
        lines.push_back(parse(text, o));
      } catch (const LineError& e) {
        const std::string problem = fmt::format("{}:{}: {}", file, number, e.what);
        if (o.strict) {
          throw UserError(problem + "; hint: fix the line, or import without --strict to skip it");
        }
        report.problems.push_back(problem);
        ++report.lines_skipped;
      }
    }
  }
  return lines;
}

}  // namespace

std::vector<std::string> SplitWords(const std::string& text) {
  std::vector<std::string> words;
  std::string current;
  auto flush = [&] {
    if (!current.empty()) words.push_back(std::move(current));
    current.clear();
  };
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      flush();
    } else if (std::string_view(".,!?;:").find(c) != std::string_view::npos) {
      flush();
      words.emplace_back(1, c);
    } else {
      current += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  flush();
  return words;
}

void ImportOptions::Validate() const {
  if (speech_files.empty() && text_files.empty()) {
    throw UserError("corpus import: give at least one --speech or --text JSONL file");
  }
  if (!(frame_rate_hz > 0 && std::isfinite(frame_rate_hz))) {
    throw UserError(fmt::format("--frame-rate must be a finite number > 0, got {}", frame_rate_hz));
  }
  if (unit_count < 1 || unit_count > 65000) throw UserError(fmt::format("--units must be in [1, 65000], got {}", unit_count));
  // Written so that NaN fails too.
  if (!(valid_fraction >= 0 && test_fraction >= 0 && valid_fraction + test_fraction < 1)) {
    throw UserError(fmt::format("--valid-fraction {} + --test-fraction {} must be >= 0 and < 1",
                                valid_fraction, test_fraction));
  }
  if (max_text_tokens < 0) throw UserError("--max-text-tokens must be >= 0");
  interleave.Validate();
}

ImportReport ImportCorpus(const ImportOptions& o, const std::string& out_dir, bool overwrite) {
  o.Validate();
  StagedFolder staged(out_dir, CorpusFolderOptions(overwrite));  // refuses a bad --out up front
  ImportReport report;
  const std::vector<SpeechLine> speech = ReadLines<SpeechLine>(o.speech_files, o, report, ParseSpeechLine);
  const std::vector<TextLine> text = ReadLines<TextLine>(o.text_files, o, report, ParseTextLine);
  if (speech.empty() && text.empty()) {
    throw UserError(fmt::format("corpus import: no usable line ({} read, {} malformed)",
                                report.lines_read, report.lines_skipped));
  }

  // Vocabulary: <unk>, then words by descending count (ties alphabetical).
  std::unordered_map<std::string, int64_t> counts;
  for (const TextLine& t : text) for (const std::string& w : t.words) ++counts[w];
  for (const SpeechLine& s : speech) {
    for (const std::string& word : s.words) for (const std::string& w : SplitWords(word)) ++counts[w];
  }
  std::vector<std::pair<std::string, int64_t>> ranked(counts.begin(), counts.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (o.max_text_tokens > 0 && static_cast<int>(ranked.size()) > o.max_text_tokens) ranked.resize(o.max_text_tokens);
  std::vector<std::string> tokens{"<unk>"};
  for (const auto& [word, count] : ranked) tokens.push_back(word);
  const Vocabulary vocab = MakeSyntheticVocabulary(tokens, o.unit_count, o.vocab_size);
  std::unordered_map<std::string, int32_t> id_of;
  for (int32_t j = 0; j < vocab.text_count; ++j) id_of[vocab.text_tokens[j]] = vocab.Text(j);
  auto word_ids = [&](const std::string& word) {
    std::vector<int32_t> ids;
    for (const std::string& w : SplitWords(word)) {
      auto it = id_of.find(w);
      ids.push_back(it == id_of.end() ? vocab.Text(0) : it->second);
    }
    return ids;
  };

  SaveVocabulary(vocab, staged.path());
  json manifest_streams = json::array();
  for (int split = 0; split < 3; ++split) {
    fs::create_directories(fs::path(staged.path()) / kSplits[split]);
    ShardWriter text_writer(StreamShardPath(staged.path(), kSplits[split], "text"), vocab.hash, vocab.vocab_size);
    ShardWriter speech_writer(StreamShardPath(staged.path(), kSplits[split], "speech"), vocab.hash, vocab.vocab_size);
    ShardWriter mixed_writer(StreamShardPath(staged.path(), kSplits[split], "interleaved"), vocab.hash, vocab.vocab_size);
    StreamStats st_text{kSplits[split], "text"}, st_speech{kSplits[split], "speech"},
        st_mixed{kSplits[split], "interleaved"};
    std::vector<int32_t> doc;
    for (const TextLine& t : text) {
      if (t.split != split) continue;
      doc.assign(1, vocab.bos);
      for (const std::string& w : t.words) {
        const std::vector<int32_t> ids = word_ids(w);
        doc.insert(doc.end(), ids.begin(), ids.end());
      }
      doc.push_back(vocab.eos);
      text_writer.AddDocument(doc);
      st_text.documents++;
      st_text.tokens += static_cast<int64_t>(doc.size());
      st_text.words += static_cast<int64_t>(t.words.size());
    }
    for (size_t i = 0; i < speech.size(); ++i) {
      const SpeechLine& s = speech[i];
      if (s.split != split) continue;
      AlignedUtterance u;
      int32_t frame = 0;
      for (size_t k = 0; k < s.units.size(); ++k) {
        u.units.push_back(vocab.Unit(s.units[k]));
        u.unit_starts.push_back(frame);
        frame += s.durations[k];
      }
      doc.assign(1, vocab.bos);
      doc.insert(doc.end(), u.units.begin(), u.units.end());
      doc.push_back(vocab.eos);
      speech_writer.AddDocument(doc);
      st_speech.documents++;
      st_speech.tokens += static_cast<int64_t>(doc.size());
      st_speech.speech_tokens += static_cast<int64_t>(u.units.size());
      st_speech.frames += frame;
      if (!s.aligned) continue;
      st_speech.words += static_cast<int64_t>(s.words.size());
      for (const std::string& w : s.words) u.text_tokens.push_back(word_ids(w));
      u.word_start = s.word_start;
      u.word_end = s.word_end;
      Rng rng(DeriveSeed(o.seed, {30, std::stoull(Sha256Hex(s.file_name).substr(0, 15), nullptr, 16), i}));
      const std::vector<bool> spoken = ChooseSpeechWords(s.words.size(), o.interleave, rng);
      doc.assign(1, vocab.bos);
      const std::vector<int32_t> ids = Interleave(u, spoken, vocab);
      doc.insert(doc.end(), ids.begin(), ids.end());
      doc.push_back(vocab.eos);
      mixed_writer.AddDocument(doc);
      st_mixed.documents++;
      st_mixed.tokens += static_cast<int64_t>(doc.size());
      for (bool b : spoken) st_mixed.words += b;
      for (int32_t t : ids) st_mixed.speech_tokens += vocab.IsUnit(t);
    }
    text_writer.Finish();
    speech_writer.Finish();
    mixed_writer.Finish();
    for (const StreamStats* st : {&st_text, &st_speech, &st_mixed}) {
      report.streams.push_back(*st);
      manifest_streams.push_back({{"split", st->split}, {"stream", st->stream},
                                  {"documents", st->documents}, {"tokens", st->tokens},
                                  {"words", st->words}, {"speech_tokens", st->speech_tokens},
                                  {"frames", st->frames}});
    }
  }
  json manifest;
  manifest["format"] = "sims-corpus";
  manifest["version"] = 1;
  manifest["source"] = "import";
  manifest["inputs"] = {{"speech", o.speech_files}, {"text", o.text_files}};
  manifest["options"] = {{"frame_rate_hz", o.frame_rate_hz}, {"unit_count", o.unit_count},
                         {"valid_fraction", o.valid_fraction}, {"test_fraction", o.test_fraction},
                         {"max_text_tokens", o.max_text_tokens}, {"seed", o.seed},
                         {"interleave", {{"method", InterleaveMethodName(o.interleave.method)},
                                         {"lambda", o.interleave.lambda},
                                         {"speech_fraction", o.interleave.speech_fraction}}}};
  manifest["vocab_hash"] = vocab.hash;
  manifest["vocab_size"] = vocab.vocab_size;
  manifest["streams"] = manifest_streams;
  manifest["lines"] = {{"read", report.lines_read}, {"skipped", report.lines_skipped}};
  manifest["problems"] = report.problems;
  // The problems quote the input (a JSON parse error shows the bytes it read), which need not be
  // UTF-8; they are informational, so bad bytes become U+FFFD instead of failing the dump.
  WriteFileAtomically((fs::path(staged.path()) / "corpus.json").string(),
                      manifest.dump(1, ' ', false, json::error_handler_t::replace) + "\n");
  staged.Commit();
  return report;
}

}  // namespace sims::corpus
