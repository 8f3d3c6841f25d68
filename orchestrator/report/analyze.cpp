// Analyze: from the store to every fit the report shows. The fits themselves are fitting/'s;
// this file only selects the data, calls them, and records what could not be fitted.
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "common/names.h"
#include "orchestrator/report/report.h"
#include "results/store.h"

namespace sims::report {

bool SweepCountsNonEmbedding(const SweepRow& sweep) { return !sweep.facts.n_includes_embedding; }

void Validate(const ReportOptions& options) {
  if (options.sweep.empty()) {
    throw UserError("report: no sweep given\nhint: pass --sweep NAME (`sims status` lists them)");
  }
  ValidateName(NameKind::kSweep, options.sweep, "report: --sweep");
  for (const std::string& c : options.conditions) {
    ValidateName(NameKind::kCondition, c, "report: --condition");
  }
  if (options.bootstrap < 0) {
    throw UserError(fmt::format("report: bootstrap = {} must be >= 0", options.bootstrap));
  }
  if (!(options.recommend_factor > 0) || !std::isfinite(options.recommend_factor)) {
    throw UserError(fmt::format("report: recommend_factor = {} must be a positive number",
                                options.recommend_factor));
  }
  if (options.threads < 0) {
    throw UserError(fmt::format("report: threads = {} must be >= 0", options.threads));
  }
  if (options.metric.empty()) throw UserError("report: metric must not be empty");
  if (options.params != "sweep" && options.params != "total" && options.params != "non-embedding") {
    throw UserError(fmt::format("report: params = '{}' is not sweep, total or non-embedding",
                                options.params));
  }
}

namespace {


std::vector<std::pair<double, double>> CurveOf(Store& store, const std::string& run_id,
                                               const std::string& metric) {
  std::vector<std::pair<double, double>> curve;
  for (const MetricRow& row : store.Metrics(run_id, metric)) {
    if (std::isfinite(row.value) && row.tokens > 0) curve.emplace_back(row.tokens, row.value);
  }
  std::sort(curve.begin(), curve.end());
  return curve;
}

// Final accuracy per task of one run: the row with the largest step of each task.
std::map<std::string, double> FinalEvals(Store& store, const std::string& run_id) {
  std::map<std::string, std::pair<int64_t, double>> last;
  for (const EvalRow& row : store.Evals(run_id)) {
    auto it = last.find(row.task);
    if (it == last.end() || row.step >= it->second.first) {
      last[row.task] = {row.step, row.accuracy};
    }
  }
  std::map<std::string, double> out;
  for (const auto& [task, step_value] : last) out[task] = step_value.second;
  return out;
}

void AnalyzeCondition(Store& store, const Analysis& analysis, const std::vector<RunRow>& runs,
                      ConditionAnalysis& c) {
  const ReportOptions& o = analysis.options;
  fitting::StoreSelection selection;
  selection.sweep = o.sweep;
  selection.condition = c.condition;
  selection.metric = o.metric;
  selection.non_embedding = analysis.non_embedding;
  try {
    c.data = fitting::LoadPointsFromStore(store, selection);
  } catch (const UserError& e) {
    c.notes.push_back(fmt::format("no data to fit: {}", e.what()));
    return;
  }

  for (const RunRow& run : runs) {
    if (run.condition != c.condition || run.status != RunStatus::kDone) continue;
    RunCurve curve;
    curve.run_id = run.id;
    curve.n_params = analysis.non_embedding ? run.n_params_non_embedding : run.n_params;
    curve.budget = BudgetOf(run);
    curve.train_loss = CurveOf(store, run.id, "train/loss");
    curve.val_loss = CurveOf(store, run.id, o.metric);
    c.curves.push_back(std::move(curve));
    for (const auto& [task, accuracy] : FinalEvals(store, run.id)) {
      c.evals[task].push_back({run.flops, BudgetOf(run), accuracy});
    }
  }

  fitting::BootstrapOptions boot;
  boot.resamples = o.bootstrap;
  boot.seed = fitting::ConditionSeed(o.seed, c.condition);  // independent resamples per condition
  boot.threads = o.threads;
  boot.budgets = analysis.budgets;
  boot.budgets.push_back(analysis.recommend_budget);

  fitting::Approach2Options fit2;
  fit2.cost = c.data.cost;
  try {
    c.approach2 = fitting::FitApproach2(c.data.points, fit2);
    for (const fitting::SkippedBudget& s : c.approach2->skipped) {
      c.notes.push_back(fmt::format("approach 2 skipped budget {:.3g} FLOPs ({} points): {}",
                                    s.budget, s.n_points, s.reason));
    }
    if (o.bootstrap > 0) c.approach2_bootstrap = fitting::BootstrapApproach2(c.data.points, fit2, boot);
  } catch (const UserError& e) {
    c.notes.push_back(fmt::format("approach 2 not fitted: {}", e.what()));
  }

  fitting::Approach3Options fit3;
  fit3.threads = o.threads;
  fit3.cost = c.data.cost;
  try {
    c.approach3 = fitting::FitApproach3(c.data.points, fit3);
    if (o.bootstrap > 0) {
      c.approach3_bootstrap = fitting::BootstrapApproach3(c.data.points, *c.approach3, fit3, boot);
    }
    c.recommendation =
        fitting::Recommend(*c.approach3, c.approach3_bootstrap, analysis.recommend_budget);
  } catch (const UserError& e) {
    c.notes.push_back(fmt::format("approach 3 not fitted: {}", e.what()));
  }

  if (analysis.budgets.size() >= 3) {
    try {
      if (c.approach3) c.holdout3 = fitting::HoldoutApproach3(c.data.points, 1, fit3);
    } catch (const UserError& e) {
      c.notes.push_back(fmt::format("no extrapolation check of approach 3: {}", e.what()));
    }
    try {
      if (c.approach2) c.holdout2 = fitting::HoldoutApproach2(c.data.points, 1, fit2);
    } catch (const UserError& e) {
      c.notes.push_back(fmt::format("no extrapolation check of approach 2: {}", e.what()));
    }
  }

  for (const auto& [task, points] : c.evals) {
    try {
      c.downstream[task] = fitting::FitDownstream(points);
    } catch (const UserError& e) {
      Log(LogLevel::kDebug, "report: no downstream fit for {} / {}: {}", c.condition, task,
          e.what());
    }
  }
}

}  // namespace

Analysis Analyze(Store& store, const ReportOptions& options) {
  Validate(options);
  const std::optional<SweepRow> sweep = store.FindSweep(options.sweep);
  if (!sweep) {
    std::string known;
    for (const SweepRow& s : store.ListSweeps()) known += (known.empty() ? "" : ", ") + s.name;
    throw UserError(fmt::format("report: no sweep named '{}' in {}\nhint: known sweeps: {}",
                                options.sweep, store.path(), known.empty() ? "none" : known));
  }
  Analysis analysis;
  analysis.options = options;
  analysis.non_embedding = options.params == "sweep" ? SweepCountsNonEmbedding(*sweep)
                                                    : options.params == "non-embedding";
  const std::string& convention = sweep->facts.flops_convention;
  analysis.flops_unit = convention.empty() || convention == "imported" ? "FLOPs (as imported)"
                                                                      : convention + " FLOPs";
  RunFilter filter;
  filter.sweep = options.sweep;
  std::vector<RunRow> runs = store.ListRuns(filter);
  std::set<double> budgets;
  std::vector<std::string> conditions = options.conditions;
  for (const RunRow& run : runs) {
    ++analysis.runs_planned;
    analysis.runs_done += run.status == RunStatus::kDone;
    analysis.runs_failed += run.status == RunStatus::kFailed;
    if (run.condition == "text-lm") continue;
    budgets.insert(BudgetOf(run));
    if (options.conditions.empty() &&
        std::find(conditions.begin(), conditions.end(), run.condition) == conditions.end()) {
      // A database written before names were checked: refuse before any fit, not at the plots.
      ValidateName(NameKind::kCondition, run.condition,
                   fmt::format("report: run {} of sweep '{}'", run.id, options.sweep));
      conditions.push_back(run.condition);
    }
  }
  analysis.budgets.assign(budgets.begin(), budgets.end());
  if (analysis.budgets.empty()) {
    throw UserError(fmt::format("report: sweep '{}' has no runs to report on\nhint: sims plan "
                                "SPEC.toml, then sims run",
                                options.sweep));
  }
  analysis.recommend_budget = options.recommend_factor * analysis.budgets.back();

  int with_data = 0;
  for (const std::string& name : conditions) {
    Log(LogLevel::kInfo, "report: fitting condition {}", name);
    ConditionAnalysis c;
    c.condition = name;
    AnalyzeCondition(store, analysis, runs, c);
    with_data += !c.data.points.empty();
    analysis.conditions.push_back(std::move(c));
  }
  if (with_data == 0) {
    throw UserError(fmt::format(
        "report: sweep '{}' has no done run with metric '{}' ({} planned, {} done)\nhint: sims "
        "run the sweep first, or pick the metric with --metric",
        options.sweep, options.metric, analysis.runs_planned, analysis.runs_done));
  }

  std::vector<const ConditionAnalysis*> fitted;
  for (const ConditionAnalysis& c : analysis.conditions) {
    if (c.approach3) fitted.push_back(&c);
  }
  if (fitted.size() >= 2) {
    fitting::ConditionFit first{fitted[0]->condition, *fitted[0]->approach3,
                                fitted[0]->approach3_bootstrap};
    fitting::ConditionFit second{fitted[1]->condition, *fitted[1]->approach3,
                                 fitted[1]->approach3_bootstrap};
    analysis.comparison = fitting::CompareConditions(first, second, analysis.budgets);
  }
  return analysis;
}

}  // namespace sims::report
