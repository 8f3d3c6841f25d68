// sims report: fit every condition of a sweep and write the report (Markdown, self-contained
// HTML, gnuplot plots) into a directory. The work is in orchestrator/report/.
#include <iostream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "common/names.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/report/report.h"
#include "results/store.h"

namespace sims {
namespace {

struct ReportCommandOptions {
  report::ReportOptions report;
  std::string out = "report";  // directory for report.md, report.html, plots/
};

void RunReport(ReportCommandOptions options, const GlobalOptions& global) {
  // Names first: a hostile --sweep or --condition is refused before any file is opened.
  if (!options.report.sweep.empty()) {
    ValidateName(NameKind::kSweep, options.report.sweep, "report: --sweep");
  }
  for (const std::string& c : options.report.conditions) {
    ValidateName(NameKind::kCondition, c, "report: --condition");
  }
  Store store = Store::Open(global.db, OpenMode::kExisting);
  if (options.report.sweep.empty()) {
    std::vector<SweepRow> sweeps = store.ListSweeps();
    if (sweeps.size() != 1) {
      throw UserError(fmt::format("report: {} has {} sweeps; say which with --sweep NAME", global.db,
                                  sweeps.size()));
    }
    options.report.sweep = sweeps.front().name;
  }
  report::CheckReportFolder(options.out);  // a bad --out fails before the fits, not after
  report::Analysis analysis = report::Analyze(store, options.report);
  report::ReportFiles files = report::WriteReport(analysis, options.out);
  std::cout << report::Verdict(analysis) << "\n\n"
            << "report: " << files.markdown << "\n        " << files.html << "\n";
}

}  // namespace

void SetupReportCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<ReportCommandOptions>();
  cmd->add_option("--sweep", o->report.sweep,
                  "Sweep to report on (may be left out when the database holds one sweep)");
  cmd->add_option("--out", o->out, "Directory for report.md, report.html and plots/")
      ->capture_default_str();
  cmd->add_option("--condition", o->report.conditions,
                  "Conditions to include, in this order (the first two are compared); default: "
                  "every condition but text-lm")
      ->delimiter(',');
  cmd->add_option("--metric", o->report.metric, "Metric fitted (its final value per run)")
      ->capture_default_str();
  cmd->add_option("--params", o->report.params,
                  "What N counts: sweep (the sweep file's n_includes_embedding; imported sweeps: "
                  "total) | total | non-embedding")
      ->check(CLI::IsMember({"sweep", "total", "non-embedding"}))
      ->capture_default_str();
  cmd->add_option("--bootstrap", o->report.bootstrap, "Bootstrap resamples for every interval")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--seed", o->report.seed, "Bootstrap seed")->capture_default_str();
  cmd->add_option("--recommend-factor", o->report.recommend_factor,
                  "Recommend an allocation for this many times the largest budget")
      ->capture_default_str();
  cmd->add_option("--threads", o->report.threads, "Fit threads (0 = every core)")
      ->capture_default_str();
  cmd->callback([o, &global] { RunReport(*o, global); });
}

}  // namespace sims
