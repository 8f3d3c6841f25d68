// sims corpus generate|info|import: make a corpus directory (synthetic, or from real prepared
// slamkit-style data) and describe one. See docs/corpus.md for the world, knobs and formats.
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/cli/commands.h"
#include "trainer/corpus/generate.h"
#include "trainer/corpus/import.h"
#include "trainer/corpus/info.h"

namespace sims {
namespace {

struct CorpusGenerateOptions {
  std::string out;          // corpus directory to create
  std::string config;       // TOML file; empty = built-in defaults
  int64_t seed = -1;        // overrides the file's seed when >= 0
  int threads = 0;          // 0 = all cores; the output does not depend on it
  bool force = false;       // replace an existing corpus directory
};

struct CorpusInfoOptions {
  std::string dir;
  Format format = Format::kTable;
};

struct CorpusImportOptions {
  corpus::ImportOptions import;
  std::string interleave_method = "poisson";  // parsed into import.interleave.method
  std::string out;
  bool force = false;
};

std::string Millions(int64_t n) { return fmt::format("{:.3f}M", static_cast<double>(n) / 1e6); }

void RunCorpusGenerate(const CorpusGenerateOptions& o) {
  corpus::CorpusConfig config;
  if (!o.config.empty()) config = corpus::LoadCorpusConfig(o.config);
  if (o.seed >= 0) config.seed = static_cast<uint64_t>(o.seed);
  const corpus::CorpusStats stats = corpus::GenerateCorpus(config, o.out, o.threads, o.force);
  int64_t stream_tokens = 0;
  for (const corpus::StreamStats& s : stats.streams) stream_tokens += s.tokens;
  Log(LogLevel::kInfo,
      "corpus: wrote {} ({} stream tokens + eval sets = {} tokens, {} eval pairs) in {:.2f} s "
      "({:.1f}M tokens/s)",
      o.out, Millions(stream_tokens), Millions(stats.total_tokens), stats.eval_pairs,
      stats.wall_seconds, static_cast<double>(stats.total_tokens) / stats.wall_seconds / 1e6);
}

void RunCorpusInfo(const CorpusInfoOptions& o, std::ostream& out) {
  const corpus::CorpusSummary s = corpus::SummarizeCorpus(o.dir);
  if (o.format == Format::kJson) {
    nlohmann::json j;
    j["dir"] = s.dir;
    j["vocab"] = {{"vocab_size", s.vocab.vocab_size}, {"used", s.vocab.used_size()},
                  {"units", s.vocab.unit_count}, {"text_tokens", s.vocab.text_count},
                  {"hash", s.vocab.hash}};
    j["source"] = s.manifest.is_object() ? s.manifest.value("source", "") : "";
    j["shards"] = nlohmann::json::array();
    for (const corpus::ShardSummary& sh : s.shards) {
      j["shards"].push_back({{"split", sh.split}, {"stream", sh.stream}, {"documents", sh.documents},
                             {"tokens", sh.tokens}, {"unit_tokens", sh.unit_tokens},
                             {"text_tokens", sh.text_tokens}, {"marker_tokens", sh.marker_tokens}});
    }
    j["eval"] = nlohmann::json::object();
    for (const auto& [task, pairs] : s.pair_sets) j["eval"][task] = pairs;
    j["speech_tokens_per_word"] = s.speech_tokens_per_word;
    j["dedup_ratio"] = s.dedup_ratio;
    out << j.dump(2) << '\n';
    return;
  }
  out << fmt::format("corpus {} ({})\n", s.dir,
                     s.manifest.is_object() ? s.manifest.value("source", "?") : "no corpus.json");
  out << fmt::format("vocabulary: {} ids ({} used: 5 specials, {} units from id {}, {} text tokens "
                     "from id {}), hash {}\n",
                     s.vocab.vocab_size, s.vocab.used_size(), s.vocab.unit_count,
                     s.vocab.unit_begin, s.vocab.text_count, s.vocab.text_begin, s.vocab.hash);
  if (s.speech_tokens_per_word > 0) {
    out << fmt::format("speech: {:.2f} unit tokens per word, dedup ratio {:.2f} frames per token\n",
                       s.speech_tokens_per_word, s.dedup_ratio);
  }
  std::vector<std::vector<std::string>> rows;
  for (const corpus::ShardSummary& sh : s.shards) {
    rows.push_back({sh.split, sh.stream, std::to_string(sh.documents), std::to_string(sh.tokens),
                    std::to_string(sh.unit_tokens), std::to_string(sh.text_tokens),
                    std::to_string(sh.marker_tokens)});
  }
  PrintTable(out, {"split", "stream", "documents", "tokens", "units", "text", "markers"}, rows);
  if (!s.pair_sets.empty()) {
    out << '\n';
    rows.clear();
    for (const auto& [task, pairs] : s.pair_sets) rows.push_back({task, std::to_string(pairs)});
    PrintTable(out, {"eval task", "pairs"}, rows);
  }
}

void RunCorpusImport(CorpusImportOptions o) {
  o.import.interleave.method = corpus::ParseInterleaveMethod(o.interleave_method);
  const corpus::ImportReport report = corpus::ImportCorpus(o.import, o.out, o.force);
  for (const std::string& problem : report.problems) Log(LogLevel::kWarn, "skipped {}", problem);
  int64_t tokens = 0;
  for (const corpus::StreamStats& s : report.streams) tokens += s.tokens;
  Log(LogLevel::kInfo, "corpus: imported {} of {} lines ({} skipped) into {}: {} tokens",
      report.lines_read - report.lines_skipped, report.lines_read, report.lines_skipped, o.out,
      tokens);
}

}  // namespace

void SetupCorpusCommand(CLI::App* cmd, GlobalOptions& /*global*/) {
  cmd->require_subcommand(1);

  auto gen = std::make_shared<CorpusGenerateOptions>();
  CLI::App* g = cmd->add_subcommand("generate", "Generate the synthetic speech-text corpus");
  g->add_option("--out", gen->out, "Corpus directory to create")->required();
  g->add_option("--config", gen->config, "Corpus TOML (e.g. examples/demo-corpus.toml)")
      ->check(CLI::ExistingFile);
  g->add_option("--seed", gen->seed, "Override the config's seed");
  g->add_option("--threads", gen->threads, "Generator threads (0 = all cores)")
      ->capture_default_str();
  g->add_flag("--force", gen->force, "Replace an existing corpus directory");
  g->callback([gen] { RunCorpusGenerate(*gen); });

  auto info = std::make_shared<CorpusInfoOptions>();
  CLI::App* i = cmd->add_subcommand("info", "Token counts, vocabulary and eval sets of a corpus");
  i->add_option("dir", info->dir, "Corpus directory")->required();
  AddFormatOption(i, info->format, {"table", "json"});
  i->callback([info] { RunCorpusInfo(*info, std::cout); });

  auto imp = std::make_shared<CorpusImportOptions>();
  CLI::App* m = cmd->add_subcommand(
      "import", "Build a corpus from slamkit-style unit JSONL (+ text JSONL) prepared elsewhere");
  m->add_option("--speech", imp->import.speech_files,
                "JSONL: file_name, units, duration (optional), aligned_text [[word,start,end]]")
      ->check(CLI::ExistingFile);
  m->add_option("--text", imp->import.text_files, "JSONL with a \"text\" field per line")
      ->check(CLI::ExistingFile);
  m->add_option("--out", imp->out, "Corpus directory to create")->required();
  m->add_option("--frame-rate", imp->import.frame_rate_hz, "Unit frames per second")
      ->capture_default_str();
  m->add_option("--units", imp->import.unit_count, "Unit inventory size")->capture_default_str();
  m->add_option("--valid-fraction", imp->import.valid_fraction, "Share of files for valid")
      ->capture_default_str();
  m->add_option("--test-fraction", imp->import.test_fraction, "Share of files for test")
      ->capture_default_str();
  m->add_option("--vocab-size", imp->import.vocab_size, "Exact vocab_size (0 = rounded up)")
      ->capture_default_str();
  m->add_option("--max-text-tokens", imp->import.max_text_tokens,
                "Keep the most frequent words, the rest become <unk> (0 = all)")
      ->capture_default_str();
  m->add_option("--seed", imp->import.seed, "Seed of the interleaving")->capture_default_str();
  m->add_option("--interleave-method", imp->interleave_method, "poisson | span | random")
      ->capture_default_str();
  m->add_option("--lambda", imp->import.interleave.lambda, "Mean speech-span length in words")
      ->capture_default_str();
  m->add_option("--speech-fraction", imp->import.interleave.speech_fraction,
                "Share of words rendered as speech in interleaved documents")
      ->capture_default_str();
  m->add_flag("--strict", imp->import.strict, "Fail on the first malformed line instead of skipping");
  m->add_flag("--force", imp->force, "Replace an existing corpus directory");
  m->callback([imp] { RunCorpusImport(*imp); });
}

}  // namespace sims
