// sims fit: fit a scaling law to a sweep's final losses (or a CSV file) and store it.
//   --approach 3  Chinchilla L(N,D) = E + A/N^alpha + B/D^beta, 4500-start grid (default)
//   --approach 2  IsoFLOP parabolas -> N_opt, D_opt power laws
//   --approach 1  lower envelope of training curves -> power laws
//   --downstream TASK  best accuracy per budget against C (power law or sigmoid)
// With --bootstrap K every number gets a bootstrap interval (docs/fitting.md); --holdout K refits
// without the K largest budgets and reports the extrapolation error. The stored fit (fits table)
// records the inputs (run ids or CSV path + sha256), the options and the sims version.
#include <algorithm>
#include <iostream>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/format.h"
#include "common/log.h"
#include "fitting/json.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"
#include "results/store.h"

namespace sims {

struct FitOptions {
  FitInputOptions input;
  int approach = 3;
  std::string axis = "params";     // approach 2: parabola in log N (params) or log D (tokens)
  int bins = 0;                    // approach 1: log-spaced FLOP bins of the envelope (0 = none)
  double huber_delta = 1e-3;       // approach 3
  bool no_screen = false;          // approach 3: full solve of every start (slower, same optimum)
  int threads = 0;                 // 0 = every core
  int bootstrap = 0;               // resamples
  uint64_t seed = 0;
  double level = 0.95;
  std::vector<double> budgets;     // derived quantities at these C (default: the data's budgets)
  int holdout = 0;                 // hold out the K largest budgets
  std::string downstream;          // eval task, e.g. sblimp/speech
  std::string form = "power-law";  // downstream: power-law | sigmoid
  bool store = true;               // --no-store: print only
  Format format = Format::kTable;
};

namespace {

std::vector<double> DistinctBudgets(const std::vector<fitting::Point>& points) {
  std::set<double> b;
  for (const auto& p : points) b.insert(p.budget > 0 ? p.budget : p.flops);
  return {b.begin(), b.end()};
}

nlohmann::json OptionsJson(const FitOptions& o) {
  return {{"approach", o.approach},   {"axis", o.axis},         {"bins", o.bins},
          {"huber_delta", o.huber_delta}, {"screen", !o.no_screen}, {"bootstrap", o.bootstrap},
          {"seed", o.seed},           {"level", o.level},       {"budgets", o.budgets},
          {"holdout", o.holdout},     {"downstream", o.downstream}, {"form", o.form},
          {"metric", o.input.metric}, {"params", o.input.params}, {"where", o.input.where},
          {"columns", o.input.columns}, {"drop_outliers", o.input.drop_outliers},
          {"exclude_top_loss", o.input.exclude_top_loss}};
}

// A per-budget row's name, the same as its interval's key in the fit's JSON.
std::string Key(fitting::AtBudget quantity, double flops) {
  return fitting::ToString(fitting::BudgetQuantity{quantity, flops});
}

void PrintIntervalsTable(std::ostream& out, const std::vector<std::pair<std::string, double>>& values,
                         const nlohmann::json& intervals) {
  std::vector<std::vector<std::string>> rows;
  std::set<std::string> printed;  // a --budget equal to a vertex's budget is listed once
  for (const auto& [name, v] : values) {
    if (!printed.insert(name).second) continue;
    std::string lo, hi;
    if (intervals.contains(name)) {
      const auto& iv = intervals.at(name);
      lo = iv.at(0).is_null() ? "inf" : FormatNumber(iv.at(0).get<double>(), 4);
      hi = iv.at(1).is_null() ? "inf" : FormatNumber(iv.at(1).get<double>(), 4);
    }
    rows.push_back({name, FormatNumber(v, 4), lo, hi});
  }
  PrintTable(out, {"quantity", "estimate", "lo", "hi"}, rows);
}

// Downstream points: the last eval of `task` of every done run.
std::vector<fitting::MetricPoint> DownstreamPoints(const FitOptions& o, const GlobalOptions& global,
                                                   nlohmann::json& provenance) {
  if (o.input.sweep.empty()) throw UserError("fit --downstream needs --sweep (evals live in the store)");
  Store store = Store::Open(global.db, OpenMode::kExisting);
  if (!store.FindSweep(o.input.sweep)) throw UserError(fmt::format("fit: no sweep '{}'", o.input.sweep));
  std::vector<fitting::MetricPoint> points;
  nlohmann::json ids = nlohmann::json::array();
  for (const RunRow& run : store.ListRuns({o.input.sweep, o.input.condition, RunStatus::kDone})) {
    if (o.input.condition.empty() && run.condition == "text-lm") continue;
    const EvalRow* last = nullptr;
    const std::vector<EvalRow> evals = store.Evals(run.id);
    for (const EvalRow& e : evals) {
      if (e.task == o.downstream && (!last || e.step > last->step)) last = &e;
    }
    if (!last) continue;
    points.push_back({run.flops, BudgetOf(run), last->accuracy});
    ids.push_back(run.id);
  }
  if (points.empty()) {
    throw UserError(fmt::format("fit: no done run of sweep '{}' has an eval '{}'; hint: tasks are "
                                "named like sblimp/speech",
                                o.input.sweep, o.downstream));
  }
  provenance = {{"source", "store"}, {"db", global.db}, {"sweep", o.input.sweep},
                {"condition", o.input.condition}, {"task", o.downstream}, {"run_ids", ids}};
  return points;
}

// Only the errors the holdout computed: approach 3 predicts losses, approach 2 the vertices.
std::string HoldoutLine(const nlohmann::json& h) {
  std::vector<std::string> parts;
  for (const auto& [key, label] : {std::pair{"loss_rel_error", "loss"}, {"n_opt_rel_error", "N_opt"},
                                   {"d_opt_rel_error", "D_opt"}}) {
    if (h.contains(key)) parts.push_back(fmt::format("{} rel. error {}", label, FormatNumber(h[key].get<double>(), 4)));
  }
  std::string line = fmt::format("holdout of the {} largest budgets: {}\n", h["held_out_budgets"].get<int>(),
                                 parts.empty() ? "nothing to compare" : fmt::format("{}", fmt::join(parts, ", ")));
  for (const auto& row : h["rows"]) {
    line += fmt::format("  budget {}: N_opt predicted {} vs {} {}, D_opt predicted {} vs {}\n",
                        FormatNumber(row["budget"].get<double>(), 4), FormatNumber(row["n_opt_predicted"].get<double>(), 4),
                        row.contains("loss_predicted") ? "best run" : "vertex",
                        FormatNumber(row["n_opt_observed"].get<double>(), 4), FormatNumber(row["d_opt_predicted"].get<double>(), 4),
                        FormatNumber(row["d_opt_observed"].get<double>(), 4));
  }
  return line;
}

}  // namespace

// Runs the fit, prints it in `format`, stores it unless --no-store.
void RunFit(const FitOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (o.approach < 1 || o.approach > 3) throw UserError(fmt::format("--approach must be 1, 2 or 3, got {}", o.approach));
  fitting::BootstrapOptions boot;
  boot.resamples = o.bootstrap;
  boot.seed = o.seed;
  boot.level = o.level;
  boot.threads = o.threads;
  fitting::Validate(boot);
  nlohmann::json result;
  nlohmann::json inputs;
  std::string kind;
  std::vector<std::pair<std::string, double>> table;  // for --format table

  if (!o.downstream.empty()) {
    if (o.bootstrap > 0 || o.holdout > 0) {
      throw UserError(fmt::format(
          "fit --downstream: {} is not available for downstream fits (it would be ignored); "
          "hint: drop the flag",
          o.bootstrap > 0 ? "--bootstrap" : "--holdout"));
    }
    nlohmann::json provenance;
    const auto points = DownstreamPoints(o, global, provenance);
    fitting::DownstreamOptions d;
    d.form = o.form == "sigmoid" ? fitting::DownstreamForm::kSigmoid : fitting::DownstreamForm::kPowerLaw;
    const auto fit = fitting::FitDownstream(points, d);
    result = fitting::ToJson(fit);
    result["task"] = o.downstream;
    kind = "downstream";
    inputs = provenance;
    inputs["options"] = OptionsJson(o);
    if (d.form == fitting::DownstreamForm::kPowerLaw) {
      table = {{"error.coefficient", fit.coefficient}, {"error.exponent", fit.exponent}};
    } else {
      table = {{"floor", fit.floor}, {"ceiling", fit.ceiling}, {"slope", fit.slope}, {"log_mid", fit.log_mid}};
    }
  } else {
    const fitting::Dataset data = LoadFitInput(o.input, global, o.approach == 1);
    inputs = FitInputsJson(data, OptionsJson(o));
    boot.budgets = o.budgets.empty() ? DistinctBudgets(data.points) : o.budgets;
    kind = fmt::format("approach{}", o.approach);
    if (o.approach == 3) {
      fitting::Approach3Options a3;
      a3.cost = data.cost;
      a3.huber_delta = o.huber_delta;
      a3.threads = o.threads;
      a3.screen = !o.no_screen;
      a3.verbose = CurrentLogLevel() == LogLevel::kDebug;
      const auto fit = fitting::FitApproach3(data.points, a3);
      Log(LogLevel::kInfo, "approach 3: {} points, {} starts ({} full solves), {} reached the best objective {:.10g}",
          fit.n_points, fit.starts, fit.full_solves, fit.starts_at_best, fit.objective);
      const auto b = fitting::BootstrapApproach3(data.points, fit, a3, boot);
      result = fitting::ToJson(fit, &b);
      if (o.holdout > 0) result["holdout"] = fitting::ToJson(fitting::HoldoutApproach3(data.points, o.holdout, a3));
      table = {{"E", fit.params.E}, {"A", fit.params.A}, {"B", fit.params.B}, {"alpha", fit.params.alpha},
               {"beta", fit.params.beta}, {"a", fit.frontier.a}, {"b", fit.frontier.b}, {"G", fit.frontier.G},
               {"loss_exponent", fitting::LossComputeExponent(fit.params)}, {"objective", fit.objective}};
      for (double c : boot.budgets) {
        const fitting::Allocation x = fitting::OptimalAllocation(fit.params, fit.cost, c);
        table.push_back({Key(fitting::AtBudget::kNOpt, c), x.n_params});
        table.push_back({Key(fitting::AtBudget::kDOpt, c), x.tokens});
        table.push_back({Key(fitting::AtBudget::kLoss, c), x.loss});
      }
    } else if (o.approach == 2) {
      fitting::Approach2Options a2;
      a2.axis = o.axis == "tokens" ? fitting::ParabolaAxis::kTokens : fitting::ParabolaAxis::kParams;
      a2.cost = data.cost;
      const auto fit = fitting::FitApproach2(data.points, a2);
      for (const auto& s : fit.skipped) Log(LogLevel::kWarn, "approach 2: budget {:g} skipped: {}", s.budget, s.reason);
      const auto b = fitting::BootstrapApproach2(data.points, a2, boot);
      result = fitting::ToJson(fit, &b);
      if (o.holdout > 0) result["holdout"] = fitting::ToJson(fitting::HoldoutApproach2(data.points, o.holdout, a2));
      // The laws at the pivot budget, not their coefficients (N_opt at C = 1 FLOP).
      const double pivot = fitting::Approach2Pivot(fit.vertices);
      const fitting::Allocation at_pivot = fitting::AllocationAt(fit.allocation, pivot);
      Log(LogLevel::kInfo, "approach 2 allocation: {}", fit.allocation.method);
      table = {{Key(fitting::AtBudget::kNOpt, pivot), at_pivot.n_params},
               {"n_opt.exponent", fit.n_opt.exponent},
               {Key(fitting::AtBudget::kDOpt, pivot), at_pivot.tokens},
               {"d_opt.exponent", fit.d_opt.exponent}};
      for (const auto& v : fit.vertices) {
        table.push_back({Key(fitting::AtBudget::kNOpt, v.budget), v.n_opt});
        table.push_back({Key(fitting::AtBudget::kDOpt, v.budget), v.d_opt});
      }
      for (double c : o.budgets) {  // asked for: the law's allocation (vertices are listed above)
        const fitting::Allocation x = fitting::AllocationAt(fit.allocation, c);
        table.push_back({Key(fitting::AtBudget::kNOpt, c), x.n_params});
        table.push_back({Key(fitting::AtBudget::kDOpt, c), x.tokens});
      }
    } else {
      fitting::Approach1Options a1;
      a1.bins = o.bins;
      const auto fit = fitting::FitApproach1(data.points, a1);
      result = fitting::ToJson(fit);
      table = {{"n_opt.coefficient", fit.n_opt.coefficient}, {"n_opt.exponent", fit.n_opt.exponent},
               {"d_opt.coefficient", fit.d_opt.coefficient}, {"d_opt.exponent", fit.d_opt.exponent},
               {"loss.coefficient", fit.loss.coefficient}, {"loss.exponent", fit.loss.exponent}};
    }
  }
  if (o.store) {
    Store store = Store::Open(global.db);
    FitRow row;
    row.kind = kind;
    row.condition = o.input.condition;
    row.inputs_json = inputs.dump();
    row.result_json = result.dump();
    result["fit_id"] = store.InsertFit(row);
  }
  if (o.format == Format::kJson) {
    nlohmann::json printed = result;
    if (printed.contains("bootstrap")) {  // the samples are for the store, not the screen
      printed["bootstrap"].erase("law_samples");
      printed["bootstrap"].erase("n_opt_samples");
      printed["bootstrap"].erase("d_opt_samples");
    }
    out << printed.dump(2) << '\n';
  } else {
    out << fmt::format("{}{}{}\n", kind, o.input.condition.empty() ? "" : " condition " + o.input.condition,
                       result.contains("fit_id") ? fmt::format(" (stored as fit {})", result["fit_id"].get<int64_t>()) : "");
    if (inputs.contains("cost_model")) {
      out << fmt::format("budgets in {} FLOPs; cost of an unseen N: {}\n",
                         inputs["cost_model"]["convention"].get<std::string>(),
                         inputs["cost_model"]["source"].get<std::string>());
    }
    PrintIntervalsTable(out, table, result.value("intervals", nlohmann::json::object()));
    if (result.contains("holdout")) out << HoldoutLine(result["holdout"]);
  }
}

void SetupFitCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<FitOptions>();
  AddFitInputOptions(cmd, o->input, true);
  cmd->add_option("--approach", o->approach, "1 (envelope of curves), 2 (IsoFLOP parabolas), 3 (parametric law)")
      ->check(CLI::Range(1, 3))
      ->capture_default_str();
  cmd->add_option("--axis", o->axis, "Approach 2: parabola in log params or log tokens")
      ->check(CLI::IsMember({"params", "tokens"}))
      ->capture_default_str();
  cmd->add_option("--bins", o->bins, "Approach 1: log-spaced FLOP bins of the envelope (0 = Pareto front)");
  cmd->add_option("--huber-delta", o->huber_delta, "Approach 3: Huber delta on log residuals")->capture_default_str();
  cmd->add_flag("--no-screen", o->no_screen, "Approach 3: fully solve every start (slower, same optimum)");
  cmd->add_option("--threads", o->threads, "Solver threads (0 = every core)");
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for intervals (0 = none)");
  cmd->add_option("--seed", o->seed, "Bootstrap seed");
  cmd->add_option("--level", o->level, "Interval level")->capture_default_str();
  cmd->add_option("--budget", o->budgets, "Report N_opt, D_opt, loss at these FLOPs (default: the data's budgets)");
  cmd->add_option("--holdout", o->holdout, "Refit without the K largest budgets and report the prediction error");
  cmd->add_option("--downstream", o->downstream, "Fit an eval task's accuracy against compute instead (e.g. sblimp/speech)");
  cmd->add_option("--form", o->form, "Downstream law: power-law (in 1 - accuracy) or sigmoid (in log C)")
      ->check(CLI::IsMember({"power-law", "sigmoid"}))
      ->capture_default_str();
  cmd->add_flag("--store,!--no-store", o->store, "Store the fit in the fits table (default) or only print it");
  AddFormatOption(cmd, o->format, {"table", "json"});
  cmd->callback([o, &global] { RunFit(*o, global, std::cout); });
}

}  // namespace sims
