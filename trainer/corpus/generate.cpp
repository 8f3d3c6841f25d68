#include "trainer/corpus/generate.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "common/checked.h"
#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/toml_reader.h"
#include "trainer/corpus/atomic_file.h"
#include "trainer/corpus/pairs.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"

namespace sims::corpus {
namespace {

namespace fs = std::filesystem;

enum Split : uint64_t { kTrain = 0, kValid = 1, kTest = 2 };
enum Stream : uint64_t { kText = 0, kSpeech = 1, kInterleaved = 2 };
const char* const kSplitNames[] = {"train", "valid", "test"};
const char* const kStreamNames[] = {"text", "speech", "interleaved"};
// Stories per parallel work item: large enough to amortise a thread start, small enough that
// the few-thousand-token validation streams still spread over several chunks.
constexpr int kStoriesPerChunk = 128;

// ---- config ----

// ---- generation ----

struct Context {
  CorpusConfig config;
  World world;
  UnitModel units;
  Vocabulary vocab;
};

Voice PickVoice(const Context& ctx, Split split, Rng& rng) {
  const SpeechOptions& s = ctx.config.speech;
  const int train_speakers = s.speakers - s.heldout_speakers;
  if (split != kTrain) return {train_speakers + rng.Below(s.heldout_speakers), false};
  if (rng.Bernoulli(s.synthetic_fraction)) return {0, true};
  return {rng.Below(train_speakers), false};
}

std::vector<int32_t> TextIds(const Vocabulary& vocab, std::span<const int32_t> words) {
  std::vector<int32_t> ids;
  ids.reserve(words.size());
  for (int32_t w : words) ids.push_back(vocab.Text(w));
  return ids;
}

std::vector<int32_t> UnitIds(const Vocabulary& vocab, std::span<const int32_t> units) {
  std::vector<int32_t> ids;
  ids.reserve(units.size());
  for (int32_t u : units) ids.push_back(vocab.Unit(u));
  return ids;
}

struct Chunk {
  std::vector<int32_t> tokens;
  std::vector<size_t> document_ends;
  std::vector<StreamStats> per_document;  // so truncation at the token target keeps exact stats
};

Chunk MakeChunk(const Context& ctx, Split split, Stream stream, uint64_t chunk) {
  const Vocabulary& vocab = ctx.vocab;
  Chunk out;
  for (int i = 0; i < kStoriesPerChunk; ++i) {
    Rng rng(DeriveSeed(ctx.config.seed, {10, split, stream, chunk, static_cast<uint64_t>(i)}));
    const Story story = SampleStory(ctx.world, rng, split == kTrain ? PlotSplit::kTrain : PlotSplit::kHeldout);
    const std::vector<int32_t> words = story.Words();
    StreamStats st;
    st.documents = 1;
    out.tokens.push_back(vocab.bos);
    if (stream == kText) {
      const std::vector<int32_t> ids = TextIds(vocab, words);
      out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
      st.words = static_cast<int64_t>(words.size());
    } else {
      const Voice voice = PickVoice(ctx, split, rng);
      const FrameRendering frames = RenderFrames(ctx.units, ctx.world.lexicon, words, voice, rng.Next(), true);
      const DedupUnits dedup = Deduplicate(frames.frames);
      if (stream == kSpeech) {
        const std::vector<int32_t> ids = UnitIds(vocab, dedup.units);
        out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
        st.words = static_cast<int64_t>(words.size());
        st.speech_tokens = static_cast<int64_t>(ids.size());
        st.frames = static_cast<int64_t>(frames.frames.size());
      } else {
        AlignedUtterance u;
        for (int32_t w : words) u.text_tokens.push_back({vocab.Text(w)});
        u.units = UnitIds(vocab, dedup.units);
        u.unit_starts = dedup.starts;
        u.word_start = frames.word_start;
        u.word_end = frames.word_end;
        const std::vector<bool> spoken = ChooseSpeechWords(words.size(), ctx.config.interleave, rng);
        const std::vector<int32_t> ids = Interleave(u, spoken, vocab);
        out.tokens.insert(out.tokens.end(), ids.begin(), ids.end());
        for (bool s : spoken) st.words += s;
        for (int32_t t : ids) st.speech_tokens += vocab.IsUnit(t);
      }
    }
    out.tokens.push_back(vocab.eos);
    st.tokens = static_cast<int64_t>(out.tokens.size() - (out.document_ends.empty() ? 0 : out.document_ends.back()));
    out.document_ends.push_back(out.tokens.size());
    out.per_document.push_back(st);
  }
  return out;
}

StreamStats WriteStream(const Context& ctx, Split split, Stream stream, int64_t target_tokens,
                        const std::string& corpus_dir, int threads) {
  const std::string path = StreamShardPath(corpus_dir, kSplitNames[split], kStreamNames[stream]);
  ShardWriter writer(path, ctx.vocab.hash, ctx.vocab.vocab_size);
  StreamStats total;
  total.split = kSplitNames[split];
  total.stream = kStreamNames[stream];
  uint64_t next_chunk = 0;
  while (total.tokens < target_tokens) {
    // A wave of `threads` chunks in parallel, consumed in chunk order: the result does not
    // depend on the thread count.
    std::vector<Chunk> wave(static_cast<size_t>(threads));
    std::vector<std::thread> workers;
    for (int k = 0; k < threads; ++k) {
      workers.emplace_back([&, k] { wave[k] = MakeChunk(ctx, split, stream, next_chunk + k); });
    }
    for (std::thread& t : workers) t.join();
    next_chunk += static_cast<uint64_t>(threads);
    for (const Chunk& chunk : wave) {
      size_t begin = 0;
      for (size_t d = 0; d < chunk.document_ends.size() && total.tokens < target_tokens; ++d) {
        const size_t end = chunk.document_ends[d];
        writer.AddDocument(std::span<const int32_t>(chunk.tokens.data() + begin, end - begin));
        const StreamStats& s = chunk.per_document[d];
        total.documents += s.documents;
        total.tokens += s.tokens;
        total.words += s.words;
        total.speech_tokens += s.speech_tokens;
        total.frames += s.frames;
        begin = end;
      }
    }
  }
  writer.Finish();
  return total;
}

// One eval item as words, before it is rendered in a modality.
struct WordPair {
  std::vector<int32_t> prefix, positive, negative;
};

std::vector<WordPair> EvalWordPairs(const Context& ctx, const std::string& family) {
  const SizeOptions& size = ctx.config.size;
  std::vector<WordPair> pairs;
  const uint64_t family_id = family == "sblimp" ? 0 : (family == "ssc" ? 1 : 2);
  for (int i = 0; i < size.eval_pairs; ++i) {
    Rng rng(DeriveSeed(ctx.config.seed, {20, family_id, static_cast<uint64_t>(i)}));
    WordPair p;
    if (family == "sblimp") {
      const Sentence s = SampleSentence(ctx.world, rng, size.sblimp_max_words);
      // Two in three pairs are agreement violations, one in three a word-order swap.
      std::vector<Site> agreement, order;
      for (const Site& site : s.sites) (site.kind == SiteKind::kWordOrder ? order : agreement).push_back(site);
      const std::vector<Site>& pool = (order.empty() || rng.Below(3) < 2) ? agreement : order;
      p.positive = s.words;
      p.negative = Violate(s, pool[rng.Below(static_cast<int32_t>(pool.size()))]);
    } else {
      const Story story = SampleStory(ctx.world, rng, PlotSplit::kHeldout, size.eval_story_sentences);
      for (size_t k = 0; k + 1 < story.sentences.size(); ++k) {
        p.prefix.insert(p.prefix.end(), story.sentences[k].words.begin(), story.sentences[k].words.end());
      }
      p.positive = story.sentences.back().words;
      if (family == "ssc") {
        p.negative = story.contradicting_ending.words;
      } else {
        // tSC: the ending of another held-out story on another topic.
        while (true) {
          const Story other = SampleStory(ctx.world, rng, PlotSplit::kHeldout, size.eval_story_sentences);
          if (other.topic != story.topic && other.sentences.back().words != p.positive) {
            p.negative = other.sentences.back().words;
            break;
          }
        }
      }
    }
    pairs.push_back(std::move(p));
  }
  return pairs;
}

int64_t WriteEvalFamily(const Context& ctx, const std::string& family, const std::string& dir) {
  const std::vector<WordPair> word_pairs = EvalWordPairs(ctx, family);
  const Vocabulary& vocab = ctx.vocab;
  const std::vector<std::string> forms =
      family == "sblimp" ? std::vector<std::string>{"speech", "text"}
                         : std::vector<std::string>{"speech", "text", "text2speech", "speech2text"};
  const int train_speakers = ctx.config.speech.speakers - ctx.config.speech.heldout_speakers;
  int64_t tokens = 0;
  for (const std::string& form : forms) {
    PairSet set;
    set.task = family + "/" + form;
    for (size_t i = 0; i < word_pairs.size(); ++i) {
      const WordPair& wp = word_pairs[i];
      const Voice voice{train_speakers + static_cast<int32_t>(i % ctx.config.speech.heldout_speakers), false};
      const uint64_t seed = DeriveSeed(ctx.config.seed, {21, static_cast<uint64_t>(i)});
      auto speech = [&](const std::vector<int32_t>& words, uint64_t part, bool leading_silence) {
        if (words.empty()) return std::vector<int32_t>{};
        const FrameRendering fr = RenderFrames(ctx.units, ctx.world.lexicon, words, voice,
                                               DeriveSeed(seed, {part}), leading_silence);
        return UnitIds(vocab, Deduplicate(fr.frames).units);
      };
      const bool prefix_speech = form == "speech" || form == "speech2text";
      const bool continuation_speech = form == "speech" || form == "text2speech";
      EvalPair p;
      p.prefix = prefix_speech ? speech(wp.prefix, 0, true) : TextIds(vocab, wp.prefix);
      if (form == "text2speech") p.prefix.push_back(vocab.speech_marker);
      if (form == "speech2text") p.prefix.push_back(vocab.text_marker);
      // The continuation follows a pause (the prefix's "."), so no extra leading silence.
      p.positive = continuation_speech ? speech(wp.positive, 1, wp.prefix.empty()) : TextIds(vocab, wp.positive);
      p.negative = continuation_speech ? speech(wp.negative, 1, wp.prefix.empty()) : TextIds(vocab, wp.negative);
      tokens += static_cast<int64_t>(p.prefix.size() + p.positive.size() + p.negative.size());
      set.pairs.push_back(std::move(p));
    }
    WritePairSet(dir, set, vocab.hash, vocab.vocab_size);
  }
  return tokens;
}

nlohmann::json StatsJson(const StreamStats& s) {
  return {{"split", s.split},   {"stream", s.stream},
          {"documents", s.documents}, {"tokens", s.tokens},
          {"words", s.words},   {"speech_tokens", s.speech_tokens},
          {"frames", s.frames}};
}

}  // namespace

void SizeOptions::Validate() const {
  auto require = [](bool ok, const char* field, double value, const char* rule) {
    if (!ok) throw UserError(fmt::format("size.{} must be {}, got {}", field, rule, value));
  };
  require(train_tokens >= 1, "train_tokens", static_cast<double>(train_tokens), ">= 1");
  require(valid_tokens >= 1, "valid_tokens", static_cast<double>(valid_tokens), ">= 1");
  require(test_tokens >= 1, "test_tokens", static_cast<double>(test_tokens), ">= 1");
  require(eval_pairs >= 1, "eval_pairs", eval_pairs, ">= 1");
  require(eval_story_sentences >= 3 && eval_story_sentences <= 64, "eval_story_sentences",
          eval_story_sentences, "in [3, 64]");
  require(sblimp_max_words >= 4, "sblimp_max_words", sblimp_max_words, ">= 4");
}

void CorpusConfig::Validate() const {
  world.Validate();
  speech.Validate();
  interleave.Validate();
  size.Validate();
  if (vocab_size < 0 || vocab_size % 64 != 0) {
    throw UserError(fmt::format("vocab_size must be 0 (automatic) or a positive multiple of 64, got {}", vocab_size));
  }
}

namespace {

void ReadWorld(TomlTable& r, WorldOptions& w) {
  r.Read("topics", w.topics);
  r.Read("nouns_per_topic", w.nouns_per_topic);
  r.Read("verbs_per_topic", w.verbs_per_topic);
  r.Read("adjectives_per_topic", w.adjectives_per_topic);
  r.Read("names", w.names);
  r.Read("animals", w.animals);
  r.Read("intransitive_verbs", w.intransitive_verbs);
  r.Read("transitive_verbs", w.transitive_verbs);
  r.Read("adjectives", w.adjectives);
  r.Read("zipf_exponent", w.zipf_exponent);
  r.Read("grammar_depth", w.grammar_depth);
  r.Read("story_sentences_min", w.story_sentences_min);
  r.Read("story_sentences_max", w.story_sentences_max);
  r.Read("reversal_probability", w.reversal_probability);
  r.Read("heldout_plot_fraction", w.heldout_plot_fraction);
  r.RejectUnknown(
      "topics, nouns_per_topic, verbs_per_topic, adjectives_per_topic, names, animals, "
      "intransitive_verbs, transitive_verbs, adjectives, zipf_exponent, grammar_depth, "
      "story_sentences_min, story_sentences_max, reversal_probability, heldout_plot_fraction");
}

void ReadSpeech(TomlTable& r, SpeechOptions& s) {
  r.Read("speakers", s.speakers);
  r.Read("heldout_speakers", s.heldout_speakers);
  r.Read("noise", s.noise);
  r.Read("speaker_shift", s.speaker_shift);
  r.Read("mean_phone_frames", s.mean_phone_frames);
  r.Read("max_phone_frames", s.max_phone_frames);
  r.Read("stay_probability", s.stay_probability);
  r.Read("synthetic_fraction", s.synthetic_fraction);
  r.RejectUnknown(
      "speakers, heldout_speakers, noise, speaker_shift, mean_phone_frames, max_phone_frames, "
      "stay_probability, synthetic_fraction");
}

void ReadInterleave(TomlTable& r, InterleaveOptions& i) {
  if (auto method = r.String("method")) {
    try {
      i.method = ParseInterleaveMethod(*method);
    } catch (const UserError& e) {
      r.Fail("method", e.what());
    }
  }
  r.Read("lambda", i.lambda);
  r.Read("speech_fraction", i.speech_fraction);
  r.RejectUnknown("method, lambda, speech_fraction");
}

void ReadSize(TomlTable& r, SizeOptions& z) {
  r.Read("train_tokens", z.train_tokens);
  r.Read("valid_tokens", z.valid_tokens);
  r.Read("test_tokens", z.test_tokens);
  r.Read("eval_pairs", z.eval_pairs);
  r.Read("eval_story_sentences", z.eval_story_sentences);
  r.Read("sblimp_max_words", z.sblimp_max_words);
  r.RejectUnknown(
      "train_tokens, valid_tokens, test_tokens, eval_pairs, eval_story_sentences, "
      "sblimp_max_words");
}

}  // namespace

CorpusConfig LoadCorpusConfig(const std::string& path) {
  const toml::table root = ParseToml(ReadWholeFile(path), path);
  CorpusConfig c;
  TomlTable top(root, "", path);
  top.Read("seed", c.seed);
  top.Read("vocab_size", c.vocab_size);
  if (auto t = top.Sub("world")) ReadWorld(*t, c.world);
  if (auto t = top.Sub("speech")) ReadSpeech(*t, c.speech);
  if (auto t = top.Sub("interleave")) ReadInterleave(*t, c.interleave);
  if (auto t = top.Sub("size")) ReadSize(*t, c.size);
  top.RejectUnknown("seed, vocab_size, [world], [speech], [interleave], [size]");
  try {
    c.Validate();
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}: {}", path, e.what()));
  }
  return c;
}

nlohmann::json ToJson(const CorpusConfig& c) {
  const WorldOptions& w = c.world;
  const SpeechOptions& s = c.speech;
  const SizeOptions& z = c.size;
  return {
      {"seed", c.seed},
      {"vocab_size", c.vocab_size},
      {"world",
       {{"topics", w.topics}, {"nouns_per_topic", w.nouns_per_topic},
        {"verbs_per_topic", w.verbs_per_topic}, {"adjectives_per_topic", w.adjectives_per_topic},
        {"names", w.names}, {"animals", w.animals}, {"intransitive_verbs", w.intransitive_verbs},
        {"transitive_verbs", w.transitive_verbs}, {"adjectives", w.adjectives},
        {"zipf_exponent", w.zipf_exponent}, {"grammar_depth", w.grammar_depth},
        {"story_sentences_min", w.story_sentences_min}, {"story_sentences_max", w.story_sentences_max},
        {"reversal_probability", w.reversal_probability},
        {"heldout_plot_fraction", w.heldout_plot_fraction}}},
      {"speech",
       {{"speakers", s.speakers}, {"heldout_speakers", s.heldout_speakers}, {"noise", s.noise},
        {"speaker_shift", s.speaker_shift}, {"mean_phone_frames", s.mean_phone_frames},
        {"max_phone_frames", s.max_phone_frames}, {"stay_probability", s.stay_probability},
        {"synthetic_fraction", s.synthetic_fraction}}},
      {"interleave",
       {{"method", InterleaveMethodName(c.interleave.method)}, {"lambda", c.interleave.lambda},
        {"speech_fraction", c.interleave.speech_fraction}}},
      {"size",
       {{"train_tokens", z.train_tokens}, {"valid_tokens", z.valid_tokens},
        {"test_tokens", z.test_tokens}, {"eval_pairs", z.eval_pairs},
        {"eval_story_sentences", z.eval_story_sentences}, {"sblimp_max_words", z.sblimp_max_words}}},
  };
}

std::vector<std::string> TextTokens(const World& world) {
  std::vector<std::string> tokens;
  for (const WordForm& f : world.lexicon.forms) tokens.push_back(f.text);
  return tokens;
}

CorpusStats GenerateCorpus(const CorpusConfig& config, const std::string& out_dir, int threads,
                           bool overwrite) {
  const auto started = std::chrono::steady_clock::now();
  config.Validate();
  StagedFolder staged(out_dir, CorpusFolderOptions(overwrite));  // refuses a bad --out up front
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  Context ctx;
  ctx.config = config;
  ctx.world = BuildWorld(config.world, config.seed);
  ctx.units = BuildUnitModel(config.speech, config.seed);
  ctx.vocab = MakeSyntheticVocabulary(TextTokens(ctx.world), config.speech.unit_count, config.vocab_size);

  const fs::path temp = staged.path();
  for (const char* split : kSplitNames) fs::create_directories(temp / split);
  fs::create_directories(temp / "eval");
  SaveVocabulary(ctx.vocab, temp.string());

  CorpusStats stats;
  const int64_t targets[] = {config.size.train_tokens, config.size.valid_tokens, config.size.test_tokens};
  for (Split split : {kTrain, kValid, kTest}) {
    for (Stream stream : {kText, kSpeech, kInterleaved}) {
      stats.streams.push_back(WriteStream(ctx, split, stream, targets[split], temp.string(), threads));
      stats.total_tokens += stats.streams.back().tokens;
      Log(LogLevel::kDebug, "corpus: {}/{}: {} tokens", kSplitNames[split], kStreamNames[stream],
          stats.streams.back().tokens);
    }
  }
  nlohmann::json eval = nlohmann::json::object();
  for (const std::string family : {"sblimp", "ssc", "tsc"}) {
    stats.total_tokens += WriteEvalFamily(ctx, family, temp.string());
  }
  for (const std::string& task : PairTasks()) {
    eval[task] = config.size.eval_pairs;
    stats.eval_pairs += config.size.eval_pairs;
  }

  nlohmann::json manifest;
  manifest["format"] = "sims-corpus";
  manifest["version"] = 1;
  manifest["source"] = "synthetic";
  manifest["config"] = ToJson(config);
  manifest["vocab_hash"] = ctx.vocab.hash;
  manifest["vocab_size"] = ctx.vocab.vocab_size;
  manifest["streams"] = nlohmann::json::array();
  for (const StreamStats& s : stats.streams) manifest["streams"].push_back(StatsJson(s));
  manifest["eval_pairs"] = eval;
  // Wall time is deliberately not stored: the directory is byte-identical for one config.
  WriteFileAtomically((temp / "corpus.json").string(), manifest.dump(1) + "\n");

  staged.Commit();
  stats.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return stats;
}

}  // namespace sims::corpus
