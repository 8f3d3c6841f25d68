// The importer of real prepared data, on the hand-written slamkit-style fixture in
// tests/data/slamkit/ (its README says what each line exercises).
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include <catch2/catch.hpp>

#include "common/error.h"
#include "tests/test_support.h"
#include "trainer/corpus/import.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace fs = std::filesystem;
using namespace sims::corpus;
using sims::UserError;
using sims::testing::TempDir;
using Catch::Matchers::Contains;

namespace {

const std::string kFixture = SIMS_SOURCE_DIR "/tests/data/slamkit/";

ImportOptions FixtureOptions() {
  ImportOptions o;
  o.speech_files = {kFixture + "speech.jsonl"};
  o.text_files = {kFixture + "text.jsonl"};
  o.valid_fraction = 0;  // everything in train, so the documents' order is the files' order
  o.test_fraction = 0;
  return o;
}

int32_t Id(const Vocabulary& v, const std::string& word) {
  for (int32_t j = 0; j < v.text_count; ++j) {
    if (v.text_tokens[j] == word) return v.Text(j);
  }
  FAIL("no text token " << word);
  return -1;
}

}  // namespace

TEST_CASE("the importer reads the slamkit-style fixture into the three streams", "[corpus]") {
  TempDir dir;
  const std::string out = dir.file("imported");
  ImportOptions o = FixtureOptions();

  SECTION("all words spoken: units come from inside each word's alignment") {
    o.interleave.speech_fraction = 1.0;
    const ImportReport report = ImportCorpus(o, out, false);
    CHECK(report.lines_read == 6);
    CHECK(report.problems.empty());
    const Vocabulary v = LoadVocabulary(out);
    const int32_t u = v.unit_begin;
    CHECK(v.text_tokens.front() == "<unk>");
    // Words by count: "the" and "cat" (4 each: 3 in text, 1 aligned) come first, alphabetically.
    CHECK(v.text_tokens[1] == "cat");
    CHECK(v.text_tokens[2] == "the");

    const ShardReader speech = ShardReader::Open(StreamShardPath(out, "train", "speech"), v.hash);
    REQUIRE(speech.document_count() == 3);
    // utt1: units 7 3 3 9 with durations 2 1 1 3 -> the repeated 3 merges: 7 3 9.
    CHECK(speech.DocumentTokens(0) == std::vector<int32_t>{v.bos, u + 7, u + 3, u + 9, v.eos});
    // utt2: frame-level 5 5 5 1 2 2 -> 5 1 2.
    CHECK(speech.DocumentTokens(1) == std::vector<int32_t>{v.bos, u + 5, u + 1, u + 2, v.eos});
    CHECK(speech.DocumentTokens(2) == std::vector<int32_t>{v.bos, u + 4, u + 8, u + 4, v.eos});

    const ShardReader mixed = ShardReader::Open(StreamShardPath(out, "train", "interleaved"), v.hash);
    REQUIRE(mixed.document_count() == 2);  // utt3 has no alignment
    CHECK(mixed.DocumentTokens(0) ==
          std::vector<int32_t>{v.bos, v.speech_marker, u + 7, u + 3, u + 9, v.eos});

    const ShardReader text = ShardReader::Open(StreamShardPath(out, "train", "text"), v.hash);
    REQUIRE(text.document_count() == 3);
    CHECK(text.DocumentTokens(0) == std::vector<int32_t>{v.bos, Id(v, "the"), Id(v, "cat"), Id(v, "sat"), Id(v, "."), v.eos});
    CHECK(text.DocumentTokens(2) == std::vector<int32_t>{v.bos, Id(v, "a"), Id(v, "cat"), Id(v, "."), v.eos});
  }
  SECTION("no word spoken: the interleaved document is the aligned words as text") {
    o.interleave.speech_fraction = 0.0;
    ImportCorpus(o, out, false);
    const Vocabulary v = LoadVocabulary(out);
    const ShardReader mixed = ShardReader::Open(StreamShardPath(out, "train", "interleaved"), v.hash);
    CHECK(mixed.DocumentTokens(0) == std::vector<int32_t>{v.bos, v.text_marker, Id(v, "the"), Id(v, "cat"), v.eos});
    CHECK(mixed.DocumentTokens(1) == std::vector<int32_t>{v.bos, v.text_marker, Id(v, "dog"), v.eos});
  }
  SECTION("a word cap maps rare words to <unk>") {
    o.max_text_tokens = 2;
    ImportCorpus(o, out, false);
    const Vocabulary v = LoadVocabulary(out);
    CHECK(v.text_tokens == std::vector<std::string>{"<unk>", "cat", "the"});
    const ShardReader text = ShardReader::Open(StreamShardPath(out, "train", "text"), v.hash);
    CHECK(text.DocumentTokens(0) == std::vector<int32_t>{v.bos, v.Text(2), v.Text(1), v.Text(0), v.Text(0), v.eos});
  }
}

TEST_CASE("splits are drawn per file name and cover every line once", "[corpus]") {
  TempDir dir;
  ImportOptions o = FixtureOptions();
  o.valid_fraction = 0.4;
  o.test_fraction = 0.3;
  const ImportReport report = ImportCorpus(o, dir.file("c"), false);
  int64_t speech = 0, text = 0;
  for (const StreamStats& s : report.streams) {
    if (s.stream == "speech") speech += s.documents;
    if (s.stream == "text") text += s.documents;
  }
  CHECK(speech == 3);
  CHECK(text == 3);
}

TEST_CASE("malformed JSONL lines are reported with their line numbers and skipped", "[corpus]") {
  TempDir dir;
  ImportOptions o;
  const std::string bad = kFixture + "malformed.jsonl";
  o.speech_files = {bad};
  const ImportReport report = ImportCorpus(o, dir.file("c"), false);
  CHECK(report.lines_read == 6);  // the blank line 6 is not a line of data
  CHECK(report.lines_skipped == 5);
  REQUIRE(report.problems.size() == 5);
  CHECK_THAT(report.problems[0], Contains(bad + ":2:") && Contains("units[1] = 600"));
  CHECK_THAT(report.problems[1], Contains(bad + ":3:") && Contains("not valid JSON"));
  CHECK_THAT(report.problems[2], Contains(bad + ":4:") && Contains("as long as \"units\""));
  CHECK_THAT(report.problems[3], Contains(bad + ":5:") && Contains("after the units end"));
  CHECK_THAT(report.problems[4], Contains(bad + ":7:") && Contains("file_name"));
  CHECK(fs::exists(dir.path() / "c" / "train" / "speech.bin"));
}

TEST_CASE("a strict import fails on the first malformed line and leaves nothing behind", "[corpus]") {
  TempDir dir;
  ImportOptions o;
  o.speech_files = {kFixture + "malformed.jsonl"};
  o.strict = true;
  CHECK_THROWS_WITH(ImportCorpus(o, dir.file("c"), false),
                    Contains("malformed.jsonl:2:") && Contains("without --strict"));
  CHECK(fs::is_empty(dir.path()));
}

TEST_CASE("the word tokenizer lower-cases and splits off punctuation", "[corpus]") {
  CHECK(SplitWords("The cat, sat!  ok") ==
        std::vector<std::string>{"the", "cat", ",", "sat", "!", "ok"});
}

TEST_CASE("imported times and durations that overflow a frame index are refused, not wrapped",
          "[corpus]") {
  TempDir dir;
  const std::string speech = dir.file("speech.jsonl");
  ImportOptions o;
  o.speech_files = {speech};
  o.strict = true;
  const auto import_line = [&](const std::string& line) {
    std::ofstream(speech) << line << "\n";
    return ImportCorpus(o, dir.file("out"), true);
  };
  // 1e8 s at 25 Hz is 2.5e9 frames: as an int32 it wrapped negative and the interleaver read
  // past the end of the units (a segfault).
  CHECK_THROWS_WITH(
      import_line(R"({"file_name": "a", "units": [1, 2], "aligned_text": [["hi", 0, 1e8]]})"),
      Contains(speech + ":1: aligned_text[0] ends at 100000000 s"));
  // 4294967290 = 2^32 - 6 became -6 frames.
  CHECK_THROWS_WITH(
      import_line(R"({"file_name": "a", "units": [1, 2], "duration": [1, 4294967290]})"),
      Contains(speech + ":1: duration[1] = 4294967290 is not a positive frame count"));
  CHECK_THROWS_WITH(
      import_line(
          R"({"file_name": "a", "units": [1, 2], "duration": [2000000000, 2000000000]})"),
      Contains(speech + ":1: \"duration\" adds up to 4000000000 frames"));
  CHECK_THROWS_WITH(
      import_line(R"({"file_name": "a", "units": [1, 2], "aligned_text": [["hi", 0, 1e400]]})"),
      Contains(speech + ":1:"));
  CHECK_FALSE(fs::exists(dir.file("out")));
}

TEST_CASE("import fractions and frame rates that are not finite numbers are refused",
          "[corpus]") {
  ImportOptions o = FixtureOptions();
  o.valid_fraction = std::nan("");
  CHECK_THROWS_WITH(o.Validate(), Contains("--valid-fraction nan"));
  o.valid_fraction = 0.1;
  o.test_fraction = std::nan("");
  CHECK_THROWS_WITH(o.Validate(), Contains("--test-fraction nan"));
  o.test_fraction = 0.1;
  o.frame_rate_hz = std::numeric_limits<double>::infinity();
  CHECK_THROWS_WITH(o.Validate(), Contains("--frame-rate"));
}
