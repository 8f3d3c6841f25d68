// sims import FILE.csv --sweep NAME: load external results (published IsoFLOP points, another
// lab's sweep) as a sweep of done runs, one run per CSV row with its loss as the final value of
// --metric, so `sims fit/compare/report` work on published data exactly as on our own runs.
// Reads the CSV with the same reader and flags as `sims fit --data`. Each run goes through the
// store's lifecycle (planned -> running -> done) under the worker name "import"; re-importing
// the same file inserts nothing (run ids hash the row).
#include <cmath>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/sha256.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"
#include "results/store.h"
#include "sweeps/run_config.h"

namespace sims {

namespace {

// N and D are stored as int64 counts. A value at or past 2^63 (a typo such as 1e30, or D
// derived from a huge budget) used to wrap to INT64_MIN; it is refused, naming the cell.
int64_t CountCell(double value, const fitting::Point& p, const std::string& column) {
  if (!(value >= 1 && value < 9.2e18)) {
    throw UserError(fmt::format("{}: column '{}': {:g} is not a count sims can store (1 to "
                                "9.2e18)\nhint: check the column's units, or drop the row",
                                p.source, column, value));
  }
  return static_cast<int64_t>(std::llround(value));
}

}  // namespace

int RunImport(const ImportOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (o.input.sweep.empty()) throw UserError("import: --sweep NAME is required (the sweep to create)");
  ValidateName(NameKind::kSweep, o.input.sweep, "import: --sweep");
  ValidateName(NameKind::kCondition, o.condition, "import: --condition");
  const fitting::CsvOptions csv = ToCsvOptions(o.input);
  const fitting::Dataset data = fitting::ReadPointsCsv(o.file, csv);
  const std::string sha = data.provenance["sha256"].get<std::string>();
  std::vector<NewRun> runs;
  std::vector<MetricRow> metrics;
  for (size_t i = 0; i < data.points.size(); ++i) {
    const fitting::Point& p = data.points[i];
    RunConfig config;
    config.sweep = o.input.sweep;
    config.condition = o.condition;
    config.design = DesignKind::kImported;
    // The row's place in the file makes identical (N, D) rows distinct runs; the file hash
    // makes a changed file a different set of runs.
    config.seed = std::stoull(p.source.substr(p.source.rfind(':') + 1));
    config.corpus = fmt::format("imported:{}", sha.substr(0, 16));
    config.tokens = CountCell(p.tokens, p, csv.tokens);
    config.budget_flops = p.budget;
    config.n_params = CountCell(p.n_params, p, csv.params);
    config.n_params_non_embedding = config.n_params;
    config.flops = p.flops;
    config.flops_6nd = 6 * p.n_params * p.tokens;
    NewRun run;
    run.id = RunId(config);
    run.condition = o.condition;
    run.n_params = config.n_params;
    run.n_params_non_embedding = config.n_params;
    run.tokens = config.tokens;
    run.flops = p.flops;
    run.flops_per_token = p.flops / static_cast<double>(run.tokens);
    run.budget_flops = p.budget;
    run.config_json = ToJson(config).dump();
    runs.push_back(run);
    metrics.push_back({run.id, 0, run.tokens, o.input.metric, p.loss});
  }
  // The store is opened only now: a refused row leaves no sweep behind.
  Store store = Store::Open(global.db);
  const int64_t sweep_id = store.UpsertSweep(
      o.input.sweep, fmt::format("# imported by sims import from {} (sha256 {})\n", o.file, sha),
      SweepFacts{SweepFlops::kImported, true, ""});  // N is what the file gives: every parameter
  const int inserted = store.InsertRuns(sweep_id, runs);
  const double now = NowSeconds();
  int finished = 0;
  for (const NewRun& run : runs) {
    if (!store.ClaimRun("import", now, 3600, o.input.sweep, run.id)) continue;  // already done
    store.InsertMetrics({metrics[&run - runs.data()]});
    store.FinishRun(run.id, "import", now);
    ++finished;
  }
  out << fmt::format("imported {} rows of {} into sweep '{}' condition '{}' as '{}': {} new runs, {} done now\n",
                     runs.size(), o.file, o.input.sweep, o.condition, o.input.metric, inserted, finished);
  if (data.dropped_outliers > 0 || data.dropped_top_loss > 0) {
    Log(LogLevel::kInfo, "import: dropped {} outlier rows and {} top-loss rows", data.dropped_outliers,
        data.dropped_top_loss);
  }
  return inserted;
}

void SetupImportCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<ImportOptions>();
  cmd->add_option("file", o->file, "CSV file (header row; see --columns)")->required();
  cmd->add_option("--sweep", o->input.sweep, "Name of the sweep to create or add to")
      ->required()
      ->check(NameCheck(NameKind::kSweep));
  cmd->add_option("--condition", o->condition, "Condition of the imported runs")
      ->capture_default_str()
      ->check(NameCheck(NameKind::kCondition));
  cmd->add_option("--columns", o->input.columns, "CSV column names, e.g. params=N,tokens=D,loss=loss,budget=C");
  cmd->add_option("--where", o->input.where, "Keep rows where COLUMN=VALUE (or =@OTHER_COLUMN); repeatable");
  cmd->add_flag("--drop-outliers", o->input.drop_outliers, "Drop rows flagged in the outlier column");
  cmd->add_option("--exclude-top-loss", o->input.exclude_top_loss, "Drop the K highest losses");
  cmd->add_option("--metric", o->input.metric, "Metric name the loss is stored under")->capture_default_str();
  cmd->callback([o, &global] { RunImport(*o, global, std::cout); });
}

}  // namespace sims
