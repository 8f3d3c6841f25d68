#pragma once
// Where fit inputs come from: a CSV file of published or external results, or the runs of a
// sweep in the results store. Both give a Dataset: points plus provenance (what was read,
// with which options, the file hash), which every stored fit records.
// Call ReadPointsCsv or LoadPointsFromStore first; hand dataset.points to a fit.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fitting/laws.h"

namespace sims {
class Store;
}

namespace sims::fitting {

struct Dataset {
  std::vector<Point> points;
  // How these points price an N they do not contain: the sweep's shape rule (store), the
  // data's own C/D (CSV, imported sweeps), or 6ND when the data give no FLOPs. Hand it to
  // Approach2Options/Approach3Options::cost; provenance["cost_model"] says which.
  CostModel cost;
  nlohmann::json provenance;  // {"source": "csv"|"store", path, sha256, options, run_ids, ...}
  int dropped_outliers = 0;   // rows removed by drop_outliers
  int dropped_top_loss = 0;   // rows removed by exclude_top_loss
};

// Column names of a CSV file (`--columns params=N,tokens=D,loss=loss,budget=C`).
// When one of params/tokens is missing from the file (empty name or absent column) it is
// derived from C = 6 N D, which then needs the budget (or flops) column; the cost model is
// then 6ND. With N, D and C all given, the cost model is the data's C/D against N.
struct CsvOptions {
  std::string params = "params";  // N
  std::string tokens = "tokens";  // D
  std::string loss = "loss";      // the fitted metric
  std::string budget = "budget";  // IsoFLOP budget; also used as C when `flops` is absent
  std::string flops = "";         // C when the file has a column distinct from the budget
  std::string outlier = "outlier";  // true/false/1/0 flag column, read with drop_outliers
  bool drop_outliers = false;      // drop rows flagged in `outlier`
  int exclude_top_loss = 0;        // drop the K rows with the highest loss (after filters)
  // Keep only rows where every condition holds: {"dataset", "comma"} compares with a literal,
  // {"current_steps", "@total_steps"} with another column of the same row (final curve points).
  std::vector<std::pair<std::string, std::string>> where;
};

// Parses "params=N,tokens=D" into `options` (unknown keys are a UserError naming them).
void ParseColumnsSpec(const std::string& spec, CsvOptions& options);
// Parses "col=value" for CsvOptions::where.
std::pair<std::string, std::string> ParseWhere(const std::string& text);

// Reads a CSV file (RFC 4180, header row). Errors (missing file or column, non-numeric cell,
// non-positive N, D or loss) are UserErrors naming the file, line and column.
Dataset ReadPointsCsv(const std::string& path, const CsvOptions& options);
// The same, from text already in memory (`name` stands for the file in messages).
Dataset ParsePointsCsv(const std::string& text, const std::string& name, const CsvOptions& options);

// Which runs of the store to fit: the final value of `metric` for every done run.
struct StoreSelection {
  std::string sweep;                      // required
  std::string condition;                  // empty = all conditions except "text-lm"
  std::string metric = "val/loss/speech"; // the paper's speech-only loss
  bool non_embedding = false;             // N = n_params_non_embedding instead of n_params
  int exclude_top_loss = 0;
};

// Final (last-step) value of the metric for each done run; runs without the metric are skipped
// and counted in provenance["runs_without_metric"]. budget = the run's planned IsoFLOP budget
// (runs.budget_flops) or its flops. The cost model is the sweep's stored cost curve for the
// condition (sweeps.planner_json), or the runs' own C/D for sweeps without one (imports).
// Throws UserError if the sweep is unknown or nothing is left.
Dataset LoadPointsFromStore(Store& store, const StoreSelection& selection);

// Whole training curves of the done runs (one point per logged step of `metric`, D = tokens
// at that step, C = the run's FLOPs per token x D), for approach 1.
Dataset LoadCurvesFromStore(Store& store, const StoreSelection& selection);

}  // namespace sims::fitting
