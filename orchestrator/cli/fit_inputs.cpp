#include "orchestrator/cli/fit_inputs.h"

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"
#include "common/version.h"
#include "orchestrator/report/report.h"
#include "results/store.h"

namespace sims {

void AddFitInputOptions(CLI::App* cmd, FitInputOptions& o, bool with_condition) {
  cmd->add_option("--sweep", o.sweep, "Fit the done runs of this sweep (from --db)")
      ->check(NameCheck(NameKind::kSweep));
  if (with_condition) {
    cmd->add_option("--condition", o.condition, "Only this condition (default: all but text-lm)")
        ->check(NameCheck(NameKind::kCondition));
  }
  cmd->add_option("--data", o.data, "Fit a CSV file of external results instead of the store");
  cmd->add_option("--columns", o.columns,
                  "CSV column names, e.g. params=N,tokens=D,loss=loss,budget=C (defaults: "
                  "params,tokens,loss,budget; N or D may be missing: derived from C = 6ND)");
  cmd->add_option("--where", o.where,
                  "Keep CSV rows where COLUMN=VALUE (or COLUMN=@OTHER: equal to another column); "
                  "repeatable");
  cmd->add_flag("--drop-outliers", o.drop_outliers, "Drop CSV rows flagged in the outlier column");
  cmd->add_option("--exclude-top-loss", o.exclude_top_loss, "Drop the K highest losses")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--metric", o.metric, "Store metric fitted as the loss")->capture_default_str();
  cmd->add_option("--params", o.params,
                  "What N counts in store fits: sweep (the sweep file's n_includes_embedding, as "
                  "sims report does) | total | non-embedding")
      ->check(CLI::IsMember({"sweep", "total", "non-embedding"}))
      ->capture_default_str();
}

fitting::CsvOptions ToCsvOptions(const FitInputOptions& o) {
  fitting::CsvOptions csv;
  fitting::ParseColumnsSpec(o.columns, csv);
  for (const std::string& w : o.where) csv.where.push_back(fitting::ParseWhere(w));
  csv.drop_outliers = o.drop_outliers;
  csv.exclude_top_loss = o.exclude_top_loss;
  return csv;
}

fitting::Dataset LoadFitInput(const FitInputOptions& o, const GlobalOptions& global, bool curves) {
  if (o.sweep.empty() == o.data.empty()) {
    throw UserError("give either --sweep NAME (runs in the database) or --data FILE.csv, not both "
                    "or neither");
  }
  if (!o.data.empty()) return fitting::ReadPointsCsv(o.data, ToCsvOptions(o));
  Store store = Store::Open(global.db, OpenMode::kExisting);
  fitting::StoreSelection s;
  s.sweep = o.sweep;
  s.condition = o.condition;
  s.metric = o.metric;
  if (o.params == "sweep") {
    const std::optional<SweepRow> sweep = store.FindSweep(o.sweep);
    s.non_embedding = sweep && report::SweepCountsNonEmbedding(*sweep);
  } else {
    s.non_embedding = o.params == "non-embedding";
  }
  s.exclude_top_loss = o.exclude_top_loss;
  return curves ? fitting::LoadCurvesFromStore(store, s) : fitting::LoadPointsFromStore(store, s);
}

nlohmann::json FitInputsJson(const fitting::Dataset& dataset, const nlohmann::json& options) {
  nlohmann::json j = dataset.provenance;
  j["options"] = options;
  j["sims_version"] = kVersion;
  return j;
}

}  // namespace sims
