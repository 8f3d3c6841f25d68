// The corpus: shards, vocabulary, the synthetic world, speech rendering and dedup, interleaving,
// the generator and its eval pair sets.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include <catch2/catch.hpp>

#include "common/error.h"
#include "tests/test_support.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/corpus/generate.h"
#include "trainer/corpus/info.h"
#include "trainer/corpus/pairs.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace fs = std::filesystem;
using namespace sims::corpus;
using sims::UserError;
using sims::testing::TempDir;
using Catch::Matchers::Contains;

namespace {

// A small corpus: seconds to generate, every stream and task present.
CorpusConfig SmallConfig() {
  CorpusConfig c;
  c.seed = 7;
  c.size.train_tokens = 20'000;
  c.size.valid_tokens = 3'000;
  c.size.test_tokens = 3'000;
  c.size.eval_pairs = 60;
  return c;
}

std::string Bytes(const fs::path& p) { return sims::ReadWholeFile(p.string()); }

void WriteBytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary) << bytes;
}

// Positions where two equal-length sequences differ.
std::vector<size_t> Differences(const std::vector<int32_t>& a, const std::vector<int32_t>& b) {
  std::vector<size_t> at;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    if (a[i] != b[i]) at.push_back(i);
  }
  return at;
}

}  // namespace

// ---- shards ----

TEST_CASE("a shard round-trips documents and token windows", "[corpus]") {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  const std::vector<std::vector<int32_t>> docs = {{1, 7, 9, 2}, {1, 2}, {}, {1, 1000, 1023, 5, 2}};
  ShardWriter writer(path, "0123456789abcdef", 1024);
  for (const auto& d : docs) writer.AddDocument(d);
  writer.Finish();

  const ShardReader r = ShardReader::Open(path, "0123456789abcdef");
  CHECK(r.size() == 11);
  REQUIRE(r.document_count() == 4);
  for (size_t i = 0; i < docs.size(); ++i) CHECK(r.DocumentTokens(static_cast<int64_t>(i)) == docs[i]);
  CHECK(r.document(3).begin == 6);
  CHECK(r.document(3).end == 11);
  std::vector<int64_t> window(4);
  r.CopyTokens(5, 4, window.data());
  CHECK(window == std::vector<int64_t>{2, 1, 1000, 1023});
  CHECK_THROWS(r.CopyTokens(9, 3, window.data()));
  // 16-bit tokens: 64-byte header + 11*2 bytes padded to 24 + 5 offsets of 8 bytes.
  CHECK(fs::file_size(path) == 64 + 24 + 40);
}

TEST_CASE("a vocabulary beyond 65536 ids is stored as 32-bit tokens", "[corpus]") {
  TempDir dir;
  ShardWriter writer(dir.file("w.bin"), "0123456789abcdef", 70'016);
  writer.AddDocument(std::vector<int32_t>{1, 70'000, 65'536, 2});
  writer.Finish();
  const ShardReader r = ShardReader::Open(dir.file("w.bin"), "");
  CHECK(r.Tokens(0, 4) == std::vector<int32_t>{1, 70'000, 65'536, 2});
  CHECK(fs::file_size(dir.file("w.bin")) == 64 + 16 + 16);
}

TEST_CASE("a shard writer that never finishes leaves no file behind", "[corpus]") {
  TempDir dir;
  {
    ShardWriter writer(dir.file("x.bin"), "0123456789abcdef", 1024);
    writer.AddDocument(std::vector<int32_t>{1, 2});
  }
  CHECK(fs::is_empty(dir.path()));
  ShardWriter bad(dir.file("y.bin"), "0123456789abcdef", 1024);
  CHECK_THROWS_WITH(bad.AddDocument(std::vector<int32_t>{1, 1024}), Contains("outside [0, 1024)"));
}

TEST_CASE("corrupt, truncated, foreign and mismatched shards are rejected by name", "[corpus]") {
  TempDir dir;
  const std::string path = dir.file("s.bin");
  ShardWriter writer(path, "0123456789abcdef", 1024);
  writer.AddDocument(std::vector<int32_t>{1, 5, 6, 7, 2});
  writer.Finish();
  const std::string good = Bytes(path);

  SECTION("truncated") {
    WriteBytes(path, good.substr(0, good.size() - 3));
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains(path) && Contains("truncated"));
    WriteBytes(path, good.substr(0, 20));
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains("truncated"));
  }
  SECTION("trailing bytes") {
    WriteBytes(path, good + "xx");
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains("trailing bytes"));
  }
  SECTION("foreign file") {
    WriteBytes(path, std::string(200, 'z'));
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains("not a sims shard"));
  }
  SECTION("other vocabulary") {
    CHECK_THROWS_WITH(ShardReader::Open(path, "fedcba9876543210"),
                      Contains("0123456789abcdef") && Contains("does not match"));
  }
  SECTION("a pair set where a stream is expected") {
    CHECK_THROWS_WITH(ShardReader::Open(path, "", ShardKind::kPairs), Contains("expected an eval pair set"));
  }
  SECTION("future version") {
    std::string bytes = good;
    bytes[8] = 9;
    WriteBytes(path, bytes);
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains("version 9 is not supported"));
  }
  SECTION("corrupt index") {
    std::string bytes = good;
    bytes[bytes.size() - 8] = 3;  // last offset no longer equals the token count
    WriteBytes(path, bytes);
    CHECK_THROWS_WITH(ShardReader::Open(path, ""), Contains("corrupt document index"));
  }
  SECTION("missing") {
    CHECK_THROWS_AS(ShardReader::Open(dir.file("none.bin"), ""), UserError);
  }
}

// ---- vocabulary ----

TEST_CASE("the synthetic vocabulary lays out specials, units and text and rounds up to 64", "[corpus]") {
  const Vocabulary v = MakeSyntheticVocabulary({"a", "b", "c"});
  CHECK(v.bos == 1);
  CHECK(v.unit_begin == 5);
  CHECK(v.text_begin == 505);
  CHECK(v.used_size() == 508);
  CHECK(v.vocab_size == 512);
  CHECK(v.IsUnit(504));
  CHECK_FALSE(v.IsUnit(505));
  CHECK(v.IsText(507));
  CHECK_FALSE(v.IsText(508));
  CHECK(v.hash.size() == 16);
  CHECK(MakeSyntheticVocabulary({"a", "b", "c"}).hash == v.hash);
  CHECK(MakeSyntheticVocabulary({"a", "b", "d"}).hash != v.hash);
  CHECK(MakeSyntheticVocabulary({"a"}, 500, 1024).vocab_size == 1024);
  CHECK_THROWS_WITH(MakeSyntheticVocabulary({"a"}, 500, 500), Contains("vocab_size = 500"));
}

TEST_CASE("vocab.json round-trips and an edited one is rejected", "[corpus]") {
  TempDir dir;
  const Vocabulary v = MakeSyntheticVocabulary({"x", "y"});
  SaveVocabulary(v, dir.path().string());
  const Vocabulary back = LoadVocabulary(dir.path().string());
  CHECK(back.hash == v.hash);
  CHECK(back.text_tokens == v.text_tokens);
  std::string text = Bytes(dir.path() / "vocab.json");
  text.replace(text.find("\"y\""), 3, "\"z\"");
  WriteBytes(dir.path() / "vocab.json", text);
  CHECK_THROWS_WITH(LoadVocabulary(dir.path().string()), Contains("does not match its token list"));
  CHECK_THROWS_WITH(LoadVocabulary(dir.file("nowhere")), Contains("is not a sims corpus"));
}

TEST_CASE("the demo corpus config has exactly 1024 vocabulary ids", "[corpus]") {
  const CorpusConfig c = LoadCorpusConfig(SIMS_SOURCE_DIR "/examples/demo-corpus.toml");
  CHECK(c.vocab_size == 1024);
  const World world = BuildWorld(c.world, c.seed);
  const Vocabulary v = MakeSyntheticVocabulary(TextTokens(world), 500, c.vocab_size);
  CHECK(v.vocab_size == 1024);
  CHECK(v.used_size() > 960);  // the rounded-up size is also 1024, so 1024 is not padding only
}

TEST_CASE("corpus config errors name the file and the key", "[corpus]") {
  TempDir dir;
  const std::string path = dir.file("c.toml");
  SECTION("unknown key") {
    WriteBytes(path, "[world]\ntopicz = 3\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path), Contains(path) && Contains("world.topicz"));
  }
  SECTION("wrong type") {
    WriteBytes(path, "[speech]\nnoise = \"loud\"\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path),
                      Contains(path + ":2: speech.noise: expected a number, found a string"));
  }
  SECTION("an integer too large for its key is refused, not wrapped") {
    // 4294967304 = 2^32 + 8 used to become 8 topics.
    WriteBytes(path, "[world]\ntopics = 4294967304\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path),
                      Contains(path + ":2: world.topics: 4294967304 is not an integer in "
                                      "[-2147483648, 2147483647]"));
  }
  SECTION("a non-finite number is refused") {
    WriteBytes(path, "[interleave]\nlambda = nan\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path), Contains(":2: interleave.lambda: expected a finite number, found nan/inf"));
  }
  SECTION("a float with an integral value is an integer") {
    WriteBytes(path, "[size]\ntrain_tokens = 3e4\n");
    CHECK(LoadCorpusConfig(path).size.train_tokens == 30000);
  }
  SECTION("out of range") {
    WriteBytes(path, "[speech]\nspeakers = 3\nheldout_speakers = 3\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path), Contains("speech.heldout_speakers"));
  }
  SECTION("unknown method") {
    WriteBytes(path, "[interleave]\nmethod = \"blocks\"\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path), Contains("\"blocks\" is unknown"));
  }
  SECTION("unknown table") {
    WriteBytes(path, "[sizes]\ntrain_tokens = 3\n");
    CHECK_THROWS_WITH(LoadCorpusConfig(path), Contains(path + ":1: sizes: unknown key (expected one of: seed, vocab_size, "
                                                        "[world], [speech], [interleave], [size])"));
  }
}

// ---- world ----

TEST_CASE("a story's ending follows the valence of its last event", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 3);
  const Lexicon& lex = world.lexicon;
  std::set<int32_t> good_words, bad_words;
  for (int32_t m : lex.good_moods) good_words.insert(m);
  for (int32_t m : lex.bad_moods) bad_words.insert(m);
  for (const Lemma& r : lex.good_reactions) good_words.insert(r.sg);
  for (const Lemma& r : lex.bad_reactions) bad_words.insert(r.sg);
  Rng rng(11);
  int reversals = 0;
  for (int i = 0; i < 500; ++i) {
    const Story s = SampleStory(world, rng, PlotSplit::kTrain);
    CAPTURE(Spell(lex, s.Words()));
    // The last event verb in the story decides the ending.
    bool last_good = false;
    int events = 0;
    for (const Sentence& sentence : s.sentences) {
      for (int32_t w : sentence.words) {
        for (size_t e = 0; e < lex.good_events.size(); ++e) {
          if (w == lex.good_events[e].sg) last_good = true, ++events;
          if (w == lex.bad_events[e].sg) last_good = false, ++events;
        }
      }
    }
    reversals += events == 2;
    REQUIRE(events >= 1);
    const std::vector<int32_t>& ending = s.sentences.back().words;
    const std::vector<int32_t>& contradiction = s.contradicting_ending.words;
    CHECK(s.ends_good == last_good);
    const bool says_good = std::any_of(ending.begin(), ending.end(), [&](int32_t w) { return good_words.contains(w); });
    const bool says_bad = std::any_of(ending.begin(), ending.end(), [&](int32_t w) { return bad_words.contains(w); });
    CHECK(says_good == last_good);
    CHECK(says_bad == !last_good);
    // The contradiction differs in exactly that one word.
    REQUIRE(contradiction.size() == ending.size());
    CHECK(Differences(ending, contradiction).size() == 1);
  }
  CHECK(reversals > 50);  // reversal_probability 0.25 of the stories with >= 4 sentences
}

TEST_CASE("held-out plots never occur in train stories", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 5);
  Rng rng(1);
  std::set<uint64_t> train, heldout;
  for (int i = 0; i < 3000; ++i) train.insert(SampleStory(world, rng, PlotSplit::kTrain).plot);
  for (int i = 0; i < 300; ++i) heldout.insert(SampleStory(world, rng, PlotSplit::kHeldout).plot);
  for (uint64_t p : heldout) CHECK_FALSE(train.contains(p));
  CHECK(heldout.size() > 100);
}

TEST_CASE("every word form is spelled uniquely, so text tokens are unambiguous", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 9);
  std::set<std::string> spellings;
  for (const WordForm& f : world.lexicon.forms) spellings.insert(f.text);
  CHECK(spellings.size() == world.lexicon.forms.size());
  // Agreement morphology: plurals and 3sg verbs are distinct forms of one stem.
  const Lemma& noun = world.lexicon.topics[0].nouns[0];
  CHECK(world.lexicon.forms[noun.pl].text.starts_with(world.lexicon.forms[noun.sg].text));
}

// ---- speech ----

TEST_CASE("dedup inverts rendering: expanding durations gives back the frames", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 2);
  const UnitModel model = BuildUnitModel(SpeechOptions{}, 2);
  Rng rng(4);
  for (int i = 0; i < 50; ++i) {
    const Story s = SampleStory(world, rng, PlotSplit::kTrain);
    const FrameRendering r = RenderFrames(model, world.lexicon, s.Words(), Voice{i % 6, i % 7 == 0}, rng.Next(), true);
    const DedupUnits d = Deduplicate(r.frames);
    CHECK(ExpandDurations(d.units, d.durations) == r.frames);
    for (size_t k = 1; k < d.units.size(); ++k) REQUIRE(d.units[k] != d.units[k - 1]);
    for (size_t k = 0; k < d.units.size(); ++k) REQUIRE(r.frames[d.starts[k]] == d.units[k]);
  }
  CHECK(Deduplicate(std::vector<int32_t>{4, 4, 4, 1, 4, 4}).durations == std::vector<int32_t>{3, 1, 2});
}

TEST_CASE("the same words render to the same frames, other words only where they differ", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 2);
  const UnitModel model = BuildUnitModel(SpeechOptions{}, 2);
  const Lexicon& lex = world.lexicon;
  const std::vector<int32_t> a = {lex.names[0], lex.is, lex.good_moods[0], lex.period};
  std::vector<int32_t> b = a;
  b[2] = lex.bad_moods[0];
  const FrameRendering ra = RenderFrames(model, lex, a, Voice{6, false}, 99, true);
  const FrameRendering rb = RenderFrames(model, lex, b, Voice{6, false}, 99, true);
  // Identical up to the changed word, and the final "." renders identically after it.
  REQUIRE(ra.word_start[2] == rb.word_start[2]);
  CHECK(std::equal(ra.frames.begin(), ra.frames.begin() + ra.word_start[2], rb.frames.begin()));
  CHECK(std::equal(ra.frames.begin() + ra.word_start[3], ra.frames.end(), rb.frames.begin() + rb.word_start[3]));
  CHECK(RenderFrames(model, lex, a, Voice{7, false}, 99, true).frames != ra.frames);  // speakers differ
}

TEST_CASE("a realistic speech rate: ~6-7 unit tokens per word, dedup ratio ~1.3", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 2);
  const UnitModel model = BuildUnitModel(SpeechOptions{}, 2);
  Rng rng(8);
  double words = 0, tokens = 0, frames = 0;
  for (int i = 0; i < 300; ++i) {
    const Story s = SampleStory(world, rng, PlotSplit::kTrain);
    const FrameRendering r = RenderFrames(model, world.lexicon, s.Words(), Voice{i % 6, false}, rng.Next(), false);
    words += static_cast<double>(s.Words().size());
    frames += static_cast<double>(r.frames.size());
    tokens += static_cast<double>(Deduplicate(r.frames).units.size());
  }
  CHECK(tokens / words > 5.0);
  CHECK(tokens / words < 8.0);
  CHECK(frames / tokens > 1.15);  // slamkit's mHuBERT-25Hz example files: ~1.25
  CHECK(frames / tokens < 1.45);
}

// ---- interleaving ----

TEST_CASE("poisson interleaving speaks exactly ceil(fraction * words) words in spans", "[corpus]") {
  InterleaveOptions o;  // poisson, lambda 10, 0.3
  Rng rng(5);
  for (size_t n : {1u, 7u, 25u, 60u, 200u}) {
    for (int rep = 0; rep < 50; ++rep) {
      const std::vector<bool> s = ChooseSpeechWords(n, o, rng);
      CHECK(static_cast<size_t>(std::count(s.begin(), s.end(), true)) ==
            static_cast<size_t>(std::ceil(0.3 * static_cast<double>(n))));
    }
  }
  // Spans are long: with lambda 10 on 200 words, far fewer runs than spoken words.
  const std::vector<bool> s = ChooseSpeechWords(200, o, rng);
  int runs = 0;
  for (size_t i = 0; i < s.size(); ++i) runs += s[i] && (i == 0 || !s[i - 1]);
  CHECK(runs <= 15);
}

TEST_CASE("random and span interleaving hit the speech fraction on average", "[corpus]") {
  for (InterleaveMethod method : {InterleaveMethod::kRandom, InterleaveMethod::kSpan}) {
    InterleaveOptions o;
    o.method = method;
    o.lambda = 5;
    Rng rng(6);
    double spoken = 0, total = 0;
    for (int rep = 0; rep < 400; ++rep) {
      for (bool b : ChooseSpeechWords(50, o, rng)) spoken += b, total += 1;
    }
    CAPTURE(InterleaveMethodName(method));
    CHECK(spoken / total == Approx(0.3).margin(0.05));
  }
}

TEST_CASE("interleaving never splits a word and takes a span's units from inside its words", "[corpus]") {
  const World world = BuildWorld(WorldOptions{}, 2);
  const UnitModel model = BuildUnitModel(SpeechOptions{}, 2);
  const Vocabulary vocab = MakeSyntheticVocabulary(TextTokens(world));
  Rng rng(12);
  for (int i = 0; i < 100; ++i) {
    const Story story = SampleStory(world, rng, PlotSplit::kTrain);
    const std::vector<int32_t> words = story.Words();
    const FrameRendering r = RenderFrames(model, world.lexicon, words, Voice{1, false}, rng.Next(), true);
    const DedupUnits d = Deduplicate(r.frames);
    AlignedUtterance u;
    for (int32_t w : words) u.text_tokens.push_back({vocab.Text(w)});
    for (int32_t unit : d.units) u.units.push_back(vocab.Unit(unit));
    u.unit_starts = d.starts;
    u.word_start = r.word_start;
    u.word_end = r.word_end;
    const std::vector<bool> spoken = ChooseSpeechWords(words.size(), InterleaveOptions{}, rng);
    const std::vector<int32_t> out = Interleave(u, spoken, vocab);

    // Rebuild the expected sequence word by word: a text word is its token, a spoken word is the
    // units starting inside its own frames; a marker precedes every run.
    std::vector<int32_t> expected;
    for (size_t w = 0; w < words.size(); ++w) {
      if (w == 0 || spoken[w] != spoken[w - 1]) expected.push_back(spoken[w] ? vocab.speech_marker : vocab.text_marker);
      if (!spoken[w]) {
        expected.push_back(vocab.Text(words[w]));
        continue;
      }
      for (size_t k = 0; k < d.units.size(); ++k) {
        if (d.starts[k] >= r.word_start[w] && d.starts[k] < r.word_end[w]) expected.push_back(vocab.Unit(d.units[k]));
      }
    }
    REQUIRE(out == expected);
  }
}

// ---- generator ----

TEST_CASE("the same seed gives a byte-identical corpus, another seed another one", "[corpus]") {
  TempDir dir;
  const CorpusConfig config = SmallConfig();
  GenerateCorpus(config, dir.file("a"), 2, false);
  GenerateCorpus(config, dir.file("b"), 1, false);  // thread count must not matter
  CorpusConfig other = config;
  other.seed = 8;
  GenerateCorpus(other, dir.file("c"), 2, false);
  int files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir.path() / "a")) {
    if (!entry.is_regular_file()) continue;
    const fs::path rel = fs::relative(entry.path(), dir.path() / "a");
    CAPTURE(rel.string());
    CHECK(Bytes(entry.path()) == Bytes(dir.path() / "b" / rel));
    if (rel != "corpus.json" && rel.string().find("train/") == 0) {
      CHECK(Bytes(entry.path()) != Bytes(dir.path() / "c" / rel));
    }
    ++files;
  }
  CHECK(files == 2 + 9 + 10);  // vocab.json, corpus.json, 9 stream shards, 10 pair sets
}

TEST_CASE("a generated corpus has the contracted layout, token budgets and documents", "[corpus]") {
  TempDir dir;
  const CorpusConfig config = SmallConfig();
  const CorpusStats stats = GenerateCorpus(config, dir.file("corpus"), 2, false);
  const std::string corpus = dir.file("corpus");
  const Vocabulary vocab = LoadVocabulary(corpus);
  CHECK(vocab.text_begin == 505);
  for (const StreamStats& s : stats.streams) {
    CAPTURE(s.split, s.stream);
    const int64_t target = s.split == "train" ? 20'000 : 3'000;
    const ShardReader r = ShardReader::Open(StreamShardPath(corpus, s.split, s.stream), vocab.hash);
    CHECK(r.size() == s.tokens);
    CHECK(r.size() >= target);
    CHECK(r.size() < target + 2'000);  // stops at the document that crosses the budget
    for (int64_t d = 0; d < r.document_count(); ++d) {
      const DocumentSpan span = r.document(d);
      REQUIRE(r.token(span.begin) == vocab.bos);
      REQUIRE(r.token(span.end - 1) == vocab.eos);
    }
    // Each stream holds only its own kinds of tokens.
    bool units = false, text = false, markers = false;
    for (int64_t t = 0; t < r.size(); ++t) {
      units |= vocab.IsUnit(r.token(t));
      text |= vocab.IsText(r.token(t));
      markers |= r.token(t) == vocab.speech_marker || r.token(t) == vocab.text_marker;
      REQUIRE(r.token(t) < vocab.used_size());
    }
    CHECK(units == (s.stream != "text"));
    CHECK(text == (s.stream != "speech"));
    CHECK(markers == (s.stream == "interleaved"));
  }
  const CorpusSummary summary = SummarizeCorpus(corpus);
  CHECK(summary.pair_sets.size() == 10);
  CHECK(summary.speech_tokens_per_word > 5);
  CHECK(summary.dedup_ratio > 1.1);
  // Generation never leaves a half-written directory, and refuses to overwrite silently.
  CHECK_THROWS_WITH(GenerateCorpus(config, corpus, 2, false), Contains("--force"));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK(entry.path().filename().string().find(".tmp.") == std::string::npos);
  }
}

TEST_CASE("eval pairs differ exactly where intended, in every modality", "[corpus]") {
  TempDir dir;
  GenerateCorpus(SmallConfig(), dir.file("corpus"), 2, false);
  const std::string corpus = dir.file("corpus");
  const Vocabulary vocab = LoadVocabulary(corpus);
  const PairSet sblimp = LoadPairSet(corpus, "sblimp/text");
  REQUIRE(sblimp.pairs.size() == 60);
  int swaps = 0, replacements = 0;
  for (const EvalPair& p : sblimp.pairs) {
    CHECK(p.prefix.empty());
    REQUIRE(p.positive.size() == p.negative.size());
    const std::vector<size_t> diff = Differences(p.positive, p.negative);
    if (diff.size() == 1) {
      ++replacements;  // an agreement violation: one word replaced
    } else {
      REQUIRE(diff.size() == 2);  // a word-order violation: two neighbours swapped
      CHECK(diff[1] == diff[0] + 1);
      CHECK(p.positive[diff[0]] == p.negative[diff[1]]);
      CHECK(p.positive[diff[1]] == p.negative[diff[0]]);
      ++swaps;
    }
  }
  CHECK(swaps > 5);
  CHECK(replacements > 20);

  const PairSet ssc_text = LoadPairSet(corpus, "ssc/text");
  const PairSet ssc_speech = LoadPairSet(corpus, "ssc/speech");
  const PairSet ssc_t2s = LoadPairSet(corpus, "ssc/text2speech");
  const PairSet ssc_s2t = LoadPairSet(corpus, "ssc/speech2text");
  for (size_t i = 0; i < ssc_text.pairs.size(); ++i) {
    const EvalPair& t = ssc_text.pairs[i];
    CHECK(Differences(t.positive, t.negative).size() == 1);  // the mood / reaction word
    // Cross-modal forms: a marker ends the prefix; continuations are the other modality's.
    std::vector<int32_t> text_prefix = t.prefix;
    text_prefix.push_back(vocab.speech_marker);
    CHECK(ssc_t2s.pairs[i].prefix == text_prefix);
    CHECK(ssc_t2s.pairs[i].positive == ssc_speech.pairs[i].positive);
    CHECK(ssc_s2t.pairs[i].positive == t.positive);
    CHECK(ssc_s2t.pairs[i].prefix.back() == vocab.text_marker);
    const EvalPair& s = ssc_speech.pairs[i];
    for (int32_t u : s.prefix) REQUIRE(vocab.IsUnit(u));
    // The endings share their first word, so their speech shares its first units.
    CHECK(s.positive != s.negative);
    CHECK(s.positive.front() == s.negative.front());
  }
  const PairSet tsc = LoadPairSet(corpus, "tsc/text");
  int differ = 0;
  for (const EvalPair& p : tsc.pairs) differ += p.positive != p.negative;
  CHECK(differ == static_cast<int>(tsc.pairs.size()));
  CHECK_THROWS_WITH(LoadPairSet(corpus, "nope/text"), Contains("nope_text.bin"));
}
