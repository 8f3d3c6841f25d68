// sims suggest SPEC.toml: which runs to train next. Per condition, the done runs are fitted
// (approach 3, parametric bootstrap), and the candidates -- the sweep's runs not yet done plus
// the midpoint sizes and budgets the planner can build (sweeps/candidates.h) -- are ranked by
// how much of the targets' variance they would remove (fitting/design.h ChooseRuns), with the
// law's misfit sized by its extrapolation error over the done runs, as the replay measures the
// method. The targets are ln N_opt and ln (optimal loss) at --target-budget (default 10x the
// largest done budget), the loss placed at the fitted optimum there. --apply stores the
// proposals as planned runs (the planner's ids, so applying twice adds nothing); `sims run
// --sweep NAME` then trains them.
// --format json: {"conditions":[{"condition","done_runs","spent_flops","spend_flops",
//   "target_budget","noise_sd","misfit_sd","flops_unit","bootstrap_laws","bootstrap_seed",
//   "candidates","targets":[{"name","sd_before","sd_after"}],
//   "proposals":[{"id","size","column","n_params","tokens","flops","gain","informs"}],
//   "applied":{"new","existing","recorded"}}], "round" (with --apply)}
// --compare FIRST,SECOND makes one design over both conditions whose target is the loss gap
// behind the compute multiplier at the target budget, ln of SECOND's optimal loss over FIRST's
// (default 10x the larger of their largest done budgets);
// --format json then prints {"comparison":{"compare":[FIRST,SECOND],"conditions":[{"condition",
//   "done_runs","spent_flops","noise_sd","misfit_sd","flops_unit","bootstrap_laws",
//   "bootstrap_seed","candidates"}],"spend_flops","target_budget","targets","proposals" (each
//   with "condition"),"applied"}, "round"}.
// --apply records the proposals in the store's proposals table (Store::RecordProposals) as one
// round shared by the conditions, so the report can say which runs were chosen when.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/format.h"
#include "common/log.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/design.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"
#include "orchestrator/cli/suggest.h"
#include "results/plan_store.h"
#include "results/store.h"
#include "sweeps/candidates.h"
#include "sweeps/plan.h"

namespace sims {
namespace {

std::string DescribeCondition(const nlohmann::json& c, const std::string& unit) {
  return fmt::format("{}: {} done runs ({} {}), law fitted with {} bootstrap laws; candidates: {} "
                     "runs the planner can build",
                     c["condition"].get<std::string>(), c["done_runs"].get<size_t>(),
                     FormatNumber(c["spent_flops"].get<double>()), unit,
                     c["bootstrap_laws"].get<size_t>(), c["candidates"].get<size_t>());
}

// One condition's suggestion, or (with "compare") the comparison's.
void PrintSuggestion(const Suggestion& s, const GlobalOptions& global, const std::string& sweep,
                     int64_t round, std::ostream& out) {
  const nlohmann::json& j = s.json;
  const bool comparison = j.contains("compare");
  const std::string unit =
      (comparison ? j["conditions"][0] : j)["flops_unit"].get<std::string>();
  std::vector<std::string> header = {"#", "run", "size", "column", "N", "D", "FLOPs", "gain",
                                     "informs most"};
  if (comparison) {
    out << fmt::format("Compute multiplier of {} against {} at {} {}, through their optimal-loss "
                       "gap there: spend up to {} {} on either.\n",
                       j["compare"][1].get<std::string>(), j["compare"][0].get<std::string>(),
                       FormatNumber(j["target_budget"].get<double>()), unit,
                       FormatNumber(j["spend_flops"].get<double>()), unit);
    for (const auto& c : j["conditions"]) out << "  " << DescribeCondition(c, unit) << ".\n";
    header.insert(header.begin() + 2, "condition");
  } else {
    out << fmt::format("Condition {}; spend up to {} {}.\n", DescribeCondition(j, unit),
                       FormatNumber(j["spend_flops"].get<double>()), unit);
  }
  PrintTable(out, header, s.table);
  double cost = 0;
  for (const auto& p : j["proposals"]) cost += p["flops"].get<double>();
  for (const auto& t : j["targets"]) {
    out << fmt::format("  {}: {} now, {} expected after these {} runs ({} {})\n",
                       t["name"].get<std::string>(), RelativeSpread(t["sd_before"].get<double>()),
                       RelativeSpread(t["sd_after"].get<double>()), j["proposals"].size(),
                       FormatNumber(cost), unit);
  }
  if (j.contains("applied")) {
    out << fmt::format("  applied as round {}: {} runs planned now, {} already in the database, "
                       "{} proposals recorded; train them with: sims --db {} run --sweep {}\n",
                       round, j["applied"]["new"].get<size_t>(),
                       j["applied"]["existing"].get<size_t>(), j["applied"]["recorded"].get<int>(),
                       global.db, sweep);
  }
}

// One condition's fit, bootstrap ensemble and candidate runs: what a suggestion chooses from.
struct PreparedCondition {
  std::string name;
  fitting::Dataset data;
  fitting::Approach3Result fit;
  fitting::BootstrapResult ensemble;
  uint64_t seed = 0;             // the bootstrap's (ConditionSeed of --seed)
  double spent = 0;              // what its done runs cost
  double largest = 0;            // its largest done budget
  double noise_sd = 0, misfit_sd = 0;
  std::vector<const PlannedRun*> runs;  // the candidates' planned runs, and
  std::vector<fitting::Candidate> pool;  // the candidates, each priced with its open dependencies
};

PreparedCondition PrepareCondition(const SuggestOptions& o, const GlobalOptions& global,
                                   Store& store, const SweepSpec& spec, const SweepPlan& candidates,
                                   const std::string& condition, size_t index,
                                   const fitting::Approach3Result* previous) {
  PreparedCondition c;
  c.name = condition;
  FitInputOptions input;
  input.sweep = spec.name;
  input.condition = condition;
  input.metric = o.metric;
  c.data = LoadFitInput(input, global, /*curves=*/false);
  fitting::Approach3Options fit_options;
  fit_options.cost = c.data.cost;
  fit_options.threads = o.threads;
  try {
    c.fit = fitting::FitApproach3(c.data.points, previous != nullptr
                                                     ? fitting::RefitOptions(fit_options, *previous)
                                                     : fit_options);
  } catch (const UserError& e) {
    throw UserError(fmt::format(
        "sims suggest: condition {}: {} done runs cannot be fitted yet ({})\nhint: the law needs "
        "at least 6 done runs over 2 or more sizes and token counts; train more of the sweep "
        "first (sims run {})",
        condition, c.data.points.size(), e.what(), o.spec_path));
  }
  fitting::BootstrapOptions boot;
  boot.resamples = o.resamples;
  boot.seed = c.seed = fitting::ConditionSeed(o.seed, condition);
  boot.threads = o.threads;
  c.ensemble = fitting::BootstrapApproach3(c.data.points, c.fit, fit_options, boot);
  for (const fitting::Point& p : c.data.points) {
    c.spent += p.flops;
    c.largest = std::max(c.largest, p.budget > 0 ? p.budget : p.flops);
  }

  // Candidates: the planner's runs of this condition that are not done or running, each
  // priced with the runs it depends on (a new size's text LM) that are not done either.
  std::map<std::string, RunStatus> status;
  for (const RunRow& r : store.ListRuns({spec.name, "", std::nullopt})) status[r.id] = r.status;
  auto open = [&](const std::string& id) {
    auto it = status.find(id);
    return it == status.end() || it->second == RunStatus::kPlanned || it->second == RunStatus::kFailed;
  };
  std::map<std::string, const PlannedRun*> by_id;
  for (const PlannedRun& r : candidates.runs) by_id[r.id] = &r;
  for (const PlannedRun& r : candidates.runs) {
    if (r.config.condition != condition || !open(r.id)) continue;
    double flops = r.config.flops;
    for (const std::string& dep : r.config.depends_on) {
      if (open(dep) && by_id.count(dep)) flops += by_id[dep]->config.flops;
    }
    const double n = static_cast<double>(spec.n_includes_embedding ? r.config.n_params
                                                                   : r.config.n_params_non_embedding);
    c.runs.push_back(&r);
    c.pool.push_back({n, static_cast<double>(r.config.tokens), flops, index});
  }
  if (c.pool.empty()) {
    throw UserError(fmt::format("sims suggest: condition {}: every run the planner can build is "
                                "done already; add sizes or budgets to {}",
                                condition, o.spec_path));
  }
  c.noise_sd = fitting::LogResidualSd(c.data.points, c.fit.params);
  // The law's misfit, as the replay on published pools measures the method (fitting/design.h).
  c.misfit_sd = fitting::ExtrapolationError(c.data.points, c.noise_sd, o.threads);
  return c;
}

// SD of ln N_opt at `budget` over the condition's ensemble: what its proposals are recorded with.
double LnNoptSd(const PreparedCondition& c, double budget) {
  const fitting::DesignTarget n_opt = fitting::OptimumTargets(c.data.cost, budget)[0];
  std::vector<double> x;
  for (const fitting::LawParams& law : c.ensemble.law_samples) {
    x.push_back(n_opt.value(std::span<const fitting::LawParams>(&law, 1)));
  }
  double mean = 0, ss = 0;
  for (double v : x) mean += v / static_cast<double>(x.size());
  for (double v : x) ss += (v - mean) * (v - mean);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

// The chosen runs as rows to print, JSON, runs to plan (with the text LMs they need) and
// proposal records. `conditions[p.candidate's condition]` owns each candidate; candidates are
// numbered across the conditions in order. `n_opt_sd`: each condition's SD of ln N_opt at the
// target budget, which its proposals are recorded with.
Suggestion Render(const fitting::DesignResult& chosen,
                  std::span<const fitting::DesignTarget> targets,
                  std::span<const PreparedCondition* const> conditions,
                  std::span<const double> n_opt_sd, const SweepPlan& candidates,
                  double target_budget) {
  Suggestion out;
  nlohmann::json target_rows = nlohmann::json::array(), proposal_rows = nlohmann::json::array();
  for (size_t t = 0; t < targets.size(); ++t) {
    const double after = chosen.proposals.empty() ? chosen.sd_before[t] : chosen.proposals.back().sd_after[t];
    target_rows.push_back({{"name", targets[t].name}, {"sd_before", chosen.sd_before[t]}, {"sd_after", after}});
  }
  std::map<std::string, const PlannedRun*> by_id;
  for (const PlannedRun& r : candidates.runs) by_id[r.id] = &r;
  std::vector<std::pair<size_t, size_t>> owner;  // per candidate: its condition, its index there
  for (size_t k = 0; k < conditions.size(); ++k) {
    for (size_t i = 0; i < conditions[k]->pool.size(); ++i) owner.push_back({k, i});
  }
  out.to_apply = candidates;
  out.to_apply.runs.clear();
  std::set<std::string> applied;
  for (size_t i = 0; i < chosen.proposals.size(); ++i) {
    const fitting::Proposal& p = chosen.proposals[i];
    const auto [k, index] = owner[p.candidate];
    const PreparedCondition* condition = conditions[k];
    const PlannedRun& r = *condition->runs[index];
    const fitting::Candidate& c = condition->pool[index];
    nlohmann::json row = {{"id", r.id}, {"size", r.size_label}, {"column", r.column_label},
                          {"n_params", c.n_params}, {"tokens", c.tokens}, {"flops", c.flops},
                          {"gain", p.gain}, {"informs", targets[p.main_target].name}};
    std::vector<std::string> cells = {std::to_string(i + 1), r.id.substr(0, 12), r.size_label,
                                      r.column_label, FormatNumber(c.n_params), FormatNumber(c.tokens),
                                      FormatNumber(c.flops), fmt::format("{:.1f}%", 100 * p.gain),
                                      targets[p.main_target].name};
    if (conditions.size() > 1) {
      row["condition"] = condition->name;
      cells.insert(cells.begin() + 2, condition->name);
    }
    proposal_rows.push_back(row);
    out.table.push_back(cells);
    for (const std::string& dep : r.config.depends_on) {
      if (by_id.count(dep) && applied.insert(dep).second) out.to_apply.runs.push_back(*by_id[dep]);
    }
    if (applied.insert(r.id).second) out.to_apply.runs.push_back(r);
    // In a comparison of two, the other condition: their loss gap was the target.
    const std::string compared_with = conditions.size() == 2 ? conditions[1 - k]->name : "";
    out.proposals.push_back({r.id, condition->name, 0, condition->seed, target_budget, p.gain,
                             n_opt_sd[k], "", compared_with});
  }
  out.json["targets"] = target_rows;
  out.json["proposals"] = proposal_rows;
  return out;
}

// What `--format json` says of one condition's fit and ensemble.
nlohmann::json ConditionJson(const PreparedCondition& c) {
  return {{"condition", c.name},
          {"done_runs", c.data.points.size()},
          {"spent_flops", c.spent},
          {"noise_sd", c.noise_sd},
          {"misfit_sd", c.misfit_sd},
          {"flops_unit", c.data.cost.Unit()},
          {"bootstrap_laws", c.ensemble.law_samples.size()},
          {"bootstrap_seed", c.seed},  // what the proposals table records: all 64 bits
          {"candidates", c.pool.size()}};
}

}  // namespace

ConditionSuggestion SuggestCondition(const SuggestOptions& o, const GlobalOptions& global,
                                     Store& store, const SweepSpec& spec,
                                     const SweepPlan& candidates, const std::string& condition,
                                     const fitting::Approach3Result* previous) {
  const PreparedCondition c =
      PrepareCondition(o, global, store, spec, candidates, condition, 0, previous);
  const double target_budget = o.target_budget > 0 ? o.target_budget : 10 * c.largest;
  fitting::DesignOptions design;
  design.noise_sd = c.noise_sd;
  design.spend_flops = o.spend > 0 ? o.spend : c.spent;
  design.max_runs = o.count;
  design.misfit_sd = c.misfit_sd;
  design.observed = c.data.points;
  const std::vector<fitting::DesignTarget> targets =
      fitting::OptimumTargets(c.data.cost, target_budget, &c.fit.params);
  const fitting::DesignResult chosen = fitting::ChooseRuns(c.ensemble.law_samples, targets, c.pool, design);
  const PreparedCondition* const owners[] = {&c};
  ConditionSuggestion s;
  // Its N_opt target's spread is what the proposals are recorded with.
  const double n_opt_sd[] = {chosen.sd_before[0]};
  static_cast<Suggestion&>(s) = Render(chosen, targets, owners, n_opt_sd, candidates, target_budget);
  nlohmann::json j = ConditionJson(c);
  j["spend_flops"] = design.spend_flops;
  j["target_budget"] = target_budget;
  j.update(s.json);
  s.json = std::move(j);
  s.n_opt_sd = chosen.sd_before[0];
  s.fit = c.fit;
  return s;
}

// --compare FIRST,SECOND: one design over both conditions' candidates whose target is the loss
// gap behind the compute multiplier at the target budget (fitting/design.h LossGapTarget).
ComparisonSuggestion SuggestComparison(const SuggestOptions& o, const GlobalOptions& global,
                                       Store& store, const SweepSpec& spec,
                                       const SweepPlan& candidates,
                                       const fitting::Approach3Result* previous_first,
                                       const fitting::Approach3Result* previous_second) {
  const PreparedCondition first =
      PrepareCondition(o, global, store, spec, candidates, o.compare.at(0), 0, previous_first);
  const PreparedCondition second =
      PrepareCondition(o, global, store, spec, candidates, o.compare.at(1), 1, previous_second);
  const double target_budget =
      o.target_budget > 0 ? o.target_budget : 10 * std::max(first.largest, second.largest);
  std::vector<fitting::Candidate> pool = first.pool;
  pool.insert(pool.end(), second.pool.begin(), second.pool.end());
  const fitting::DesignCondition conditions[] = {
      {first.ensemble.law_samples, first.noise_sd, first.misfit_sd, first.data.points},
      {second.ensemble.law_samples, second.noise_sd, second.misfit_sd, second.data.points}};
  fitting::DesignOptions design;
  design.spend_flops = o.spend > 0 ? o.spend : first.spent + second.spent;
  design.max_runs = o.count;
  const fitting::DesignTarget targets[] = {
      fitting::LossGapTarget(first.data.cost, second.data.cost, target_budget)};
  const fitting::DesignResult chosen = fitting::ChooseRuns(conditions, targets, pool, design);
  const PreparedCondition* const owners[] = {&first, &second};
  ComparisonSuggestion s;
  const double n_opt_sd[] = {LnNoptSd(first, target_budget), LnNoptSd(second, target_budget)};
  static_cast<Suggestion&>(s) = Render(chosen, targets, owners, n_opt_sd, candidates, target_budget);
  s.json["compare"] = {first.name, second.name};
  s.json["conditions"] = {ConditionJson(first), ConditionJson(second)};
  s.json["spend_flops"] = design.spend_flops;
  s.json["target_budget"] = target_budget;
  s.gap_sd = chosen.sd_before[0];
  s.first_fit = first.fit;
  s.second_fit = second.fit;
  return s;
}

AppliedSuggestion ApplySuggestion(Store& store, const Suggestion& s, int64_t round) {
  AppliedSuggestion applied;
  if (s.to_apply.runs.empty()) return applied;
  const StoreResult stored = PlanIntoStore(store, s.to_apply, /*dry_run=*/false);
  applied.new_runs = stored.new_ids.size();
  applied.existing_runs = stored.existing_ids.size();
  std::vector<ProposalRow> rows = s.proposals;
  for (ProposalRow& row : rows) row.round = round;
  applied.recorded = store.RecordProposals(rows);
  return applied;
}

namespace {

void RunSuggest(const SuggestOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (!std::isfinite(o.spend) || !std::isfinite(o.target_budget)) {
    throw UserError(fmt::format("sims suggest: --spend {} and --target-budget {} must be finite",
                                o.spend, o.target_budget));
  }
  const SweepSpec spec = LoadSweepFile(o.spec_path, o.corpus);
  const SweepPlan candidates = PlanSweep(WithCandidatePoints(spec));
  Store store = Store::Open(global.db, OpenMode::kExisting);
  if (!store.FindSweep(spec.name)) {
    throw UserError(fmt::format("sims suggest: sweep {} is not in {}\nhint: plan and train some "
                                "of it first: sims run {}",
                                spec.name, global.db, o.spec_path));
  }
  auto known = [&](const std::string& condition, const char* option) {
    if (std::none_of(spec.conditions.begin(), spec.conditions.end(),
                     [&](const ConditionSpec& c) { return c.name == condition; })) {
      throw UserError(fmt::format("sims suggest: {} {}: not a condition of {}", option, condition,
                                  o.spec_path));
    }
  };
  // One round per command, shared by its conditions (0: not applied).
  const int64_t round = o.apply ? store.NextProposalRound(spec.name) : 0;
  auto apply = [&](Suggestion& s) {
    if (!o.apply || s.to_apply.runs.empty()) return;
    const AppliedSuggestion applied = ApplySuggestion(store, s, round);
    s.json["applied"] = {{"new", applied.new_runs},
                         {"existing", applied.existing_runs},
                         {"recorded", applied.recorded}};
  };
  if (!o.compare.empty()) {
    if (o.compare.size() != 2 || o.compare[0] == o.compare[1] || !o.conditions.empty()) {
      throw UserError(fmt::format(
          "sims suggest: --compare takes two different conditions, FIRST,SECOND (got {}), and "
          "no --condition",
          fmt::join(o.compare, ",")));
    }
    for (const std::string& c : o.compare) known(c, "--compare");
    Log(LogLevel::kInfo, "sims suggest: fitting {} and {} and ranking their candidates",
        o.compare[0], o.compare[1]);
    ComparisonSuggestion s = SuggestComparison(o, global, store, spec, candidates);
    apply(s);
    if (o.format == Format::kTable) {
      PrintSuggestion(s, global, spec.name, round, out);
    } else {
      nlohmann::json j{{"comparison", s.json}};
      if (o.apply) j["round"] = round;
      out << j.dump() << '\n';
    }
    return;
  }
  std::vector<std::string> conditions = o.conditions;
  if (conditions.empty()) {
    for (const ConditionSpec& c : spec.conditions) conditions.push_back(c.name);
  }
  nlohmann::json all = nlohmann::json::array();
  for (const std::string& condition : conditions) {
    known(condition, "--condition");
    Log(LogLevel::kInfo, "sims suggest: fitting {} and ranking its candidates", condition);
    ConditionSuggestion s = SuggestCondition(o, global, store, spec, candidates, condition);
    apply(s);
    if (o.format == Format::kTable) PrintSuggestion(s, global, spec.name, round, out);
    all.push_back(s.json);
  }
  if (o.format == Format::kJson) {
    nlohmann::json j{{"conditions", all}};
    if (o.apply) j["round"] = round;
    out << j.dump() << '\n';
  }
}

}  // namespace

void SetupSuggestCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<SuggestOptions>();
  cmd->add_option("spec", o->spec_path, "Sweep file (TOML) whose runs are partly done")->required();
  cmd->add_option("--corpus", o->corpus,
                  "Corpus directory replacing the file's [sweep].corpus (as sims plan --corpus)");
  cmd->add_option("--condition", o->conditions, "Only these conditions (default: every one)");
  cmd->add_option("--compare", o->compare,
                  "FIRST,SECOND: make the compute multiplier between two conditions precise "
                  "instead (the compute SECOND needs to reach FIRST's optimal loss at the target "
                  "budget, as sims compare reports it), through the gap between their optimal "
                  "losses there; candidates of both compete for one spend")
      ->delimiter(',')
      ->expected(2);
  cmd->add_option("--spend", o->spend,
                  "FLOPs the proposals may cost together, in the sweep's convention (default: "
                  "what the condition's done runs cost, i.e. double the spend)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--count", o->count, "At most this many runs per condition, or in all with --compare (0 = no cap)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--target-budget", o->target_budget,
                  "Budget whose N_opt and loss should become precise (default: 10x the largest "
                  "done budget)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--resamples", o->resamples, "Bootstrap laws the criterion is estimated from")
      ->check(CLI::Range(10, 100000))
      ->capture_default_str();
  cmd->add_option("--seed", o->seed, "Bootstrap seed (each condition derives its own)")
      ->capture_default_str();
  cmd->add_option("--threads", o->threads, "Threads (0 = every core)");
  cmd->add_option("--metric", o->metric, "Store metric fitted as the loss")->capture_default_str();
  cmd->add_flag("--apply", o->apply,
                "Store the proposals as planned runs (idempotent) and record them as the sweep's "
                "next adaptive round; train them with sims run --sweep NAME");
  AddFormatOption(cmd, o->format, {"table", "json"});
  cmd->callback([o, &global] { RunSuggest(*o, global, std::cout); });
}

}  // namespace sims
