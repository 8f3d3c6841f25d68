// Analyze: from the store to every fit the report shows. The fits themselves are fitting/'s;
// this file only selects the data, calls them, and records what could not be fitted.
#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/format.h"
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

// Final evaluation per task of one run: the row with the largest step of each task.
std::map<std::string, EvalRow> FinalEvals(Store& store, const std::string& run_id) {
  std::map<std::string, EvalRow> last;
  for (const EvalRow& row : store.Evals(run_id)) {
    auto it = last.find(row.task);
    if (it == last.end() || row.step >= it->second.step) last[row.task] = row;
  }
  return last;
}

// The report's level: the first bootstrap's (every condition is resampled at the same one),
// or nullopt when the report has no bootstrap.
std::optional<double> ReportLevel(const Analysis& a) {
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.approach3_bootstrap.resamples > 0) return c.approach3_bootstrap.level;
    if (c.approach2_bootstrap && c.approach2_bootstrap->resamples > 0) {
      return c.approach2_bootstrap->level;
    }
  }
  return std::nullopt;
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
    for (const auto& [task, eval] : FinalEvals(store, run.id)) {
      c.evals[task].push_back({run.flops, BudgetOf(run), eval.accuracy});
      if (BudgetOf(run) != analysis.budgets.back()) continue;
      TaskAtLargestBudget& best = c.at_largest_budget[task];
      if (best.n_pairs == 0 || eval.accuracy > best.accuracy) {
        best.accuracy = eval.accuracy;
        best.n_pairs = eval.n_pairs;
      }
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
      c.notes.push_back(fmt::format("approach 2 skipped budget {} {} ({}): {}",
                                    FormatNumber(s.budget), analysis.flops_unit,
                                    Counted(s.n_points, "point"), s.reason));
    }
    if (o.bootstrap > 0) c.approach2_bootstrap = fitting::BootstrapApproach2(c.data.points, fit2, boot);
  } catch (const UserError& e) {
    c.approach2_error = e.what();
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
  const std::optional<FlopConvention> planned = PlannerConvention(sweep->facts.flops_convention);
  analysis.flops_unit = planned ? ToString(*planned) + " FLOPs" : "FLOPs as imported";
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
  // A pair task's accuracy against chance, at the report's level (95% without a bootstrap).
  const double z = fitting::NormalQuantile(0.5 + ReportLevel(analysis).value_or(0.95) / 2);
  for (ConditionAnalysis& c : analysis.conditions) {
    for (auto& [task, best] : c.at_largest_budget) {
      best.chance_half_width = best.n_pairs > 0 ? z * std::sqrt(0.25 / best.n_pairs) : 0.5;
      best.indistinguishable_from_chance = std::abs(best.accuracy - 0.5) <= best.chance_half_width;
    }
  }
  analysis.verdict = MakeVerdictFacts(analysis);
  std::map<std::string, const RunRow*> by_id;
  for (const RunRow& run : runs) by_id[run.id] = &run;
  for (const ProposalRow& p : store.Proposals(options.sweep)) {
    auto it = by_id.find(p.run_id);
    if (it == by_id.end()) continue;  // planned since the runs were read: not in this report
    const RunRow& run = *it->second;
    analysis.proposals.push_back(
        {p,
         static_cast<double>(analysis.non_embedding ? run.n_params_non_embedding : run.n_params),
         static_cast<double>(run.tokens), run.flops, run.status});
  }
  return analysis;
}

namespace {

// The smallest and largest N among a condition's fitted runs.
std::pair<double, double> SizeRange(const ConditionAnalysis& c) {
  double smallest = HUGE_VAL, largest = 0;
  for (const fitting::Point& p : c.data.points) {
    smallest = std::min(smallest, p.n_params);
    largest = std::max(largest, p.n_params);
  }
  return {smallest, largest};
}

}  // namespace

bool SoundFit(const Analysis& a, const ConditionAnalysis& c) {
  if (!c.approach3) return false;
  const fitting::Frontier& f = c.approach3->frontier;
  const fitting::Allocation optimum =
      fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, a.budgets.back());
  if (!(f.a > 0 && f.a < 1 && f.b > 0 && f.b < 1 && std::isfinite(f.G) &&
        std::isfinite(optimum.loss))) {
    return false;
  }
  // The optimum at the sweep's largest budget must lie near the sizes that were trained: a
  // law whose optimum is far outside them is extrapolating its own shape, not the data.
  const auto [smallest, largest] = SizeRange(c);
  return optimum.n_params > smallest / 10 && optimum.n_params < largest * 10;
}

VerdictFacts MakeVerdictFacts(const Analysis& a) {
  VerdictFacts facts;
  facts.level = ReportLevel(a);
  facts.flops_unit = a.flops_unit;
  for (const ConditionAnalysis& c : a.conditions) facts.conditions_fitted += c.approach3.has_value();
  if (!a.comparison) return facts;
  const fitting::Comparison& cmp = *a.comparison;
  facts.compared = true;
  facts.first = cmp.first.condition;
  facts.second = cmp.second.condition;
  for (const ConditionAnalysis& c : a.conditions) {
    if (!c.approach3 || SoundFit(a, c)) continue;
    const auto [smallest, largest] = SizeRange(c);
    const fitting::Allocation optimum =
        fitting::OptimalAllocation(c.approach3->params, c.approach3->cost, a.budgets.back());
    facts.unsound.push_back(
        {c.condition, c.approach3->frontier.a, optimum.n_params, smallest, largest, optimum.loss});
  }

  if (!cmp.multipliers.empty()) {
    const fitting::MultiplierRow& last = cmp.multipliers.back();
    VerdictFacts::Multiplier m;
    m.budget = last.budget;
    m.value = last.multiplier;
    m.interval = last.interval;
    if (!std::isfinite(last.multiplier)) {
      m.favours = Favoured::kFirst;  // the second never reaches the first's loss
    } else if (last.interval && last.interval->lo <= 1 && last.interval->hi >= 1) {
      m.favours = Favoured::kUnresolved;
    } else {
      m.favours = last.multiplier < 1 ? Favoured::kSecond : Favoured::kFirst;
    }
    const double smallest = cmp.multipliers.front().multiplier;
    if (cmp.multipliers.size() >= 2 && std::isfinite(smallest) && std::isfinite(m.value)) {
      m.at_smallest_budget = smallest;
    }
    facts.multiplier = m;
  }

  facts.exponent_first = cmp.first.loss_exponent;
  facts.exponent_second = cmp.second.loss_exponent;
  for (const ConditionAnalysis& c : a.conditions) {
    if (c.condition == facts.first && c.approach3) facts.irreducible_first = c.approach3->params.E;
    if (c.condition == facts.second && c.approach3) facts.irreducible_second = c.approach3->params.E;
  }
  facts.steeper = facts.exponent_second > facts.exponent_first ? Favoured::kSecond : Favoured::kFirst;
  facts.p_exponents_equal = cmp.p_loss_exponent;
  facts.exponents_differ =
      facts.level && cmp.p_loss_exponent && *cmp.p_loss_exponent < 1 - *facts.level;
  facts.multiplier_and_exponent_disagree = facts.multiplier &&
                                           facts.multiplier->favours != Favoured::kUnresolved &&
                                           facts.multiplier->favours != facts.steeper;
  if (facts.multiplier && facts.multiplier->at_smallest_budget &&
      facts.multiplier->value != *facts.multiplier->at_smallest_budget) {
    // A falling multiplier: the second gets relatively cheaper as compute grows.
    const Favoured gaining = facts.multiplier->value < *facts.multiplier->at_smallest_budget
                                 ? Favoured::kSecond
                                 : Favoured::kFirst;
    facts.trend_and_exponent_disagree = gaining != facts.steeper;
  }
  facts.crossing_flops = cmp.crossing_flops;
  facts.smallest_budget = a.budgets.front();
  facts.largest_budget = a.budgets.back();

  for (const ConditionAnalysis& c : a.conditions) {
    if (c.recommendation && (!facts.best || c.recommendation->loss < facts.best->recommendation.loss)) {
      facts.best = VerdictFacts::Best{c.condition, *c.recommendation};
    }
  }
  return facts;
}

}  // namespace sims::report
