#pragma once
// What `sims fit`, `compare` and `import` share: the flags that say where points come from
// (a sweep in the store, or a CSV file) and how a fit is recorded in the fits table with its
// provenance. Internal to the orchestrator's fitting commands.
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "fitting/data.h"
#include "orchestrator/cli/cli.h"

namespace sims {

struct FitInputOptions {
  std::string sweep;                       // store input: the sweep's done runs
  std::string condition;                   // store input: one condition (empty: all but text-lm)
  std::string data;                        // CSV input instead of the store
  std::string columns;                     // --columns params=N,tokens=D,loss=L,budget=C
  std::vector<std::string> where;          // --where col=value | col=@other_col
  bool drop_outliers = false;
  int exclude_top_loss = 0;
  std::string metric = "val/loss/speech";  // store input: which metric is the loss
  std::string params = "sweep";            // sweep (its n_includes_embedding) | total | non-embedding
};

// Binds --sweep, --data, --columns, --where, --drop-outliers, --exclude-top-loss, --metric,
// --params (and --condition when `with_condition`).
void AddFitInputOptions(CLI::App* cmd, FitInputOptions& options, bool with_condition);

// Final points (or, with `curves`, every logged step: approach 1). Throws UserError when
// neither or both of --sweep and --data are given.
fitting::Dataset LoadFitInput(const FitInputOptions& options, const GlobalOptions& global, bool curves);

fitting::CsvOptions ToCsvOptions(const FitInputOptions& options);

// `sims import FILE.csv --sweep NAME` (orchestrator/cli/cmd_import.cpp), here so that tests and the
// input fuzzer call it without argv.
struct ImportOptions {
  std::string file;
  FitInputOptions input;  // --sweep names the new sweep; the CSV flags as in fit --data
  std::string condition = "imported";
};
// Imports every kept row as a done run; returns how many runs were new. Throws UserError for a
// bad name (sweep, condition), a bad cell (naming file, line and column) or a count past int64.
int RunImport(const ImportOptions& options, const GlobalOptions& global, std::ostream& out);

// provenance + {"options": options, "sims_version": kVersion}: the inputs_json of a stored fit.
nlohmann::json FitInputsJson(const fitting::Dataset& dataset, const nlohmann::json& options);

}  // namespace sims
