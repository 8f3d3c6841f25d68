// sims: a scaling-law experiment orchestrator and analysis suite for speech-text LMs.
// This file is the table of subcommands and the one place exceptions become exit codes:
// 0 ok, 1 user error (bad input, named in a one-line message), 2 internal error.
#include <cstdio>
#include <exception>

#include <CLI/CLI.hpp>
#include <SQLiteCpp/Exception.h>
#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "common/version.h"
#include "common/names.h"
#include "orchestrator/cli/commands.h"
#include "results/store.h"

namespace {

struct Subcommand {
  const char* name;
  const char* description;
  void (*setup)(CLI::App*, sims::GlobalOptions&);
};

// Keep in pipeline order: what a user runs first comes first in --help.
const Subcommand kSubcommands[] = {
#if SIMS_WITH_TORCH
    {"demo", "The whole pipeline at toy scale on CPU: corpus, sweep, training, fits, report",
     sims::SetupDemoCommand},
#endif
    {"corpus", "Generate, import or describe a speech-text corpus (generate | import | info)",
     sims::SetupCorpusCommand},
    {"import-speech",
     "Import slamkit speech units and text, tokenised for a Hugging Face checkpoint",
     sims::SetupImportSpeechCommand},
    {"plan", "Resolve a sweep file into runs and store the new ones (--dry-run to preview)",
     sims::SetupPlanCommand},
    {"run", "Plan a sweep file and train its runs (local worker pool or Slurm)",
     sims::SetupRunCommand},
#if SIMS_WITH_TORCH
    {"worker", "Claim runs from the database and train them (started by `run` or a Slurm job)",
     sims::SetupWorkerCommand},
#endif
    {"status", "Where every run stands: status, attempt, progress, last loss, error",
     sims::SetupStatusCommand},
    {"runs", "Retry, cancel or reset runs (asks first unless --yes)", sims::SetupRunsCommand},
    {"ingest", "Load the events files of Slurm workers into the database",
     sims::SetupIngestCommand},
    {"export",
     "Write a table of the database (runs, metrics, evals, fits, sweeps, proposals) as CSV or JSON",
     sims::SetupExportCommand},
#if SIMS_WITH_TORCH
    {"export-hf", "Write a run (or an extended checkpoint) as a Hugging Face model directory",
     sims::SetupExportHfCommand},
#endif
    {"import", "Load a CSV of external results (e.g. published IsoFLOPs) as a sweep of done runs",
     sims::SetupImportCommand},
    {"fit", "Fit a scaling law (approach 1, 2 or 3) with bootstrap intervals and store it",
     sims::SetupFitCommand},
    {"compare", "Compare two conditions: exponents, compute multiplier, crossing, p-values",
     sims::SetupCompareCommand},
    {"recommend", "N, D, tokens per parameter and loss for a compute budget, with intervals",
     sims::SetupRecommendCommand},
    {"suggest",
     "Which runs to train next: the ones that narrow N_opt and loss at a larger budget most",
     sims::SetupSuggestCommand},
    {"report", "Fit every condition of a sweep and write the report (Markdown, HTML, plots)",
     sims::SetupReportCommand},
    {"bench", "Benchmarks next to their peers (fit: vs scipy; train: vs PyTorch)",
     sims::SetupBenchCommand},
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "sims: plan, train, fit and report scaling-law sweeps of speech-text language models.\n"
      "Typical use: sims demo; sims plan sweep.toml; sims run sweep.toml; sims status;\n"
      "sims fit --sweep NAME --condition C; sims report --sweep NAME; sims recommend --budget 1e21",
      "sims"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sims ") + sims::kVersion);
  sims::GlobalOptions global;
  app.add_option("--db", global.db, "SQLite database file of this project")
      ->capture_default_str();
  app.add_option("--log-level", global.log_level, "debug | info | warn | error | quiet")
      ->capture_default_str();
  app.parse_complete_callback(
      [&] { sims::CurrentLogLevel() = sims::ParseLogLevel(global.log_level); });
  for (const Subcommand& sub : kSubcommands) {
    sub.setup(app.add_subcommand(sub.name, sub.description), global);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 answers a first word that is no subcommand (or an unknown option before any) with
    // "A subcommand is required": name the word, and the subcommands, instead.
    if (app.get_subcommands().empty() && !app.remaining().empty()) {
      const std::string word = app.remaining().front();
      if (word.starts_with('-')) {
        std::fprintf(stderr, "sims: error: unknown option %s\nhint: sims --help lists them\n",
                     sims::EscapedForMessage(word).c_str());
        return 1;
      }
      std::string names;
      for (const Subcommand& sub : kSubcommands) {
        names += std::string(names.empty() ? "" : ", ") + sub.name;
      }
      std::fprintf(stderr,
                   "sims: error: unknown subcommand %s\nhint: the subcommands are %s (sims "
                   "--help)\n",
                   sims::EscapedForMessage(word).c_str(), names.c_str());
      return 1;
    }
    app.exit(e);
    return 1;
  } catch (const sims::UserError& e) {
    std::fprintf(stderr, "sims: error: %s\n", e.what());
    return 1;
  } catch (const SQLite::Exception& e) {
    // The store checks what it writes; an SQLite error on reading means a damaged file (a
    // flipped byte, a copy cut short), which the user can act on, not a bug of sims. Named as
    // opened: not every command's database is --db (`sims demo --out DIR` uses DIR/sims.db).
    const std::string db = sims::LastOpenedDatabase();
    std::fprintf(stderr,
                 "sims: error: database %s: %s\nhint: the file may be damaged; `sqlite3 %s "
                 "'PRAGMA integrity_check'` tells, and a copy from before the damage is the fix\n",
                 db.c_str(), e.what(), sims::ShellQuote(db).c_str());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sims: internal error: %s\n", e.what());
    return 2;
  }
  return 0;
}
