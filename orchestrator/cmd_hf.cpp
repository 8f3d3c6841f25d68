// Hugging Face checkpoints on the command line (issue 10); docs/real-models.md has the recipes.
//   sims import-speech: slamkit JSONL units + raw text -> a corpus tokenised with a checkpoint's
//                       tokenizer, its vocabulary extended by the units (torch-free).
//   sims export-hf:     a trained run (or a checkpoint, extended for speech) -> a directory that
//                       transformers' AutoModelForCausalLM.from_pretrained opens (needs torch).
// Both verbs are thin wrappers over trainer/hf, so they share this file.
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/commands.h"
#include "trainer/hf/import_speech.h"
#if SIMS_WITH_TORCH
#include "orchestrator/ingest.h"
#include "results/store.h"
#include "sweeps/run_config.h"
#include "trainer/hf_export.h"
#include "trainer/train.h"
#endif

namespace sims {
namespace {

namespace fs = std::filesystem;

struct ImportSpeechCliOptions {
  hf::SpeechImportOptions import;
  std::string interleave_method = "poisson";
  std::string out;
  bool overwrite = false;
};

void RunImportSpeech(ImportSpeechCliOptions o) {
  o.import.interleave.method = corpus::ParseInterleaveMethod(o.interleave_method);
  const hf::SpeechImportReport report = hf::ImportSpeechForCheckpoint(o.import, o.out, o.overwrite);
  for (const std::string& p : report.problems) Log(LogLevel::kWarn, "skipped {}", p);
  int64_t tokens = 0;
  for (const corpus::StreamStats& s : report.streams) tokens += s.tokens;
  Log(LogLevel::kInfo, "import-speech: wrote {} ({} tokens from {} lines, {} skipped)", o.out,
      tokens, report.lines_read, report.lines_skipped);
}

#if SIMS_WITH_TORCH
struct ExportHfOptions {
  std::string run_id;      // a run of this project's database, or
  std::string checkpoint;  // a Hugging Face directory to extend for speech and write back
  std::string out;
  std::string dtype = "float32";  // float32 | bfloat16 (the paper's models are bf16)
  uint64_t seed = 1;              // for the new rows when extending a checkpoint
};

void RunExportHf(const ExportHfOptions& o, const GlobalOptions& global) {
  if (o.run_id.empty() == o.checkpoint.empty()) {
    throw UserError("export-hf: give either a RUN_ID or --checkpoint DIR");
  }
  if (!o.checkpoint.empty()) {
    hf::ExportExtendedCheckpoint(o.checkpoint, o.out, o.dtype, o.seed);
    Log(LogLevel::kInfo, "export-hf: wrote {} ({} extended for speech)", o.out, o.checkpoint);
    return;
  }
  Store store = Store::Open(global.db, OpenMode::kExisting);
  const std::optional<RunRow> run = store.GetRun(o.run_id);
  if (!run) throw UserError(fmt::format("export-hf: no run '{}' in {}", o.run_id, global.db));
  const RunConfig config = RunConfigFromJson(nlohmann::json::parse(run->config_json));
  const std::string weights = FinalWeightsPath(RunDir(ProjectDir(global.db), o.run_id));
  if (!fs::exists(weights)) {
    throw UserError(fmt::format("export-hf: run {} has no final weights ({})\nhint: export a "
                                "run once it is done (sims status)", o.run_id, weights));
  }
  hf::ExportRunWeights(o.run_id, config, weights, o.out, o.dtype);
  Log(LogLevel::kInfo, "export-hf: wrote run {} to {}", o.run_id, o.out);
}
#endif

}  // namespace

void SetupImportSpeechCommand(CLI::App* cmd, GlobalOptions& /*global*/) {
  auto o = std::make_shared<ImportSpeechCliOptions>();
  cmd->add_option("--checkpoint", o->import.checkpoint,
                  "Hugging Face model directory (config.json, tokenizer.json)")
      ->required();
  cmd->add_option("--speech", o->import.speech_files, "slamkit JSONL file(s) of units")
      ->check(CLI::ExistingFile);
  cmd->add_option("--text", o->import.text_files, "Raw text file(s): JSONL {\"text\"} or lines")
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o->out, "Corpus directory to write")->required();
  cmd->add_option("--frame-rate", o->import.frame_rate_hz, "Unit frames per second")
      ->capture_default_str();
  cmd->add_option("--units", o->import.unit_count, "Number of speech units")->capture_default_str();
  cmd->add_option("--valid-fraction", o->import.valid_fraction)->capture_default_str();
  cmd->add_option("--test-fraction", o->import.test_fraction)->capture_default_str();
  cmd->add_option("--interleave", o->interleave_method, "poisson | span | random")
      ->capture_default_str();
  cmd->add_option("--lambda", o->import.interleave.lambda, "Mean speech span in words")
      ->capture_default_str();
  cmd->add_option("--speech-fraction", o->import.interleave.speech_fraction,
                  "Share of words rendered as speech")
      ->capture_default_str();
  cmd->add_option("--seed", o->import.seed)->capture_default_str();
  cmd->add_flag("--strict", o->import.strict, "Fail on the first malformed line");
  cmd->add_flag("--overwrite", o->overwrite, "Replace an existing corpus directory");
  cmd->callback([o] { RunImportSpeech(*o); });
}

#if SIMS_WITH_TORCH
void SetupExportHfCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<ExportHfOptions>();
  cmd->add_option("run_id", o->run_id, "Run to export (its final weights)")
      ->check(NameCheck(NameKind::kRun));
  cmd->add_option("--checkpoint", o->checkpoint,
                  "Instead of a run: a Hugging Face directory, extended for speech");
  cmd->add_option("--out", o->out, "Directory to write")->required();
  cmd->add_option("--dtype", o->dtype)
      ->check(CLI::IsMember({"float32", "bfloat16"}))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Seed of the new rows (--checkpoint)")->capture_default_str();
  cmd->callback([o, &global] { RunExportHf(*o, global); });
}
#endif

}  // namespace sims
