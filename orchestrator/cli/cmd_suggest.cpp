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
// --apply records the proposals in the store's proposals table (Store::RecordProposals) as one
// round shared by the conditions, so the report can say which runs were chosen when.
#include <algorithm>
#include <cmath>
#include <iostream>
#include <map>
#include <memory>
#include <set>

#include <fmt/format.h>
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

void PrintSuggestion(const ConditionSuggestion& s, const GlobalOptions& global,
                     const std::string& sweep, int64_t round, std::ostream& out) {
  const nlohmann::json& j = s.json;
  const std::string unit = j["flops_unit"].get<std::string>();
  out << fmt::format(
      "Condition {}: {} done runs ({} {}), law fitted with {} bootstrap laws; candidates: {} "
      "runs the planner can build; spend up to {} {}.\n",
      j["condition"].get<std::string>(), j["done_runs"].get<size_t>(),
      FormatNumber(j["spent_flops"].get<double>()), unit, j["bootstrap_laws"].get<size_t>(),
      j["candidates"].get<size_t>(), FormatNumber(j["spend_flops"].get<double>()), unit);
  PrintTable(out, {"#", "run", "size", "column", "N", "D", "FLOPs", "gain", "informs most"}, s.table);
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

}  // namespace

ConditionSuggestion SuggestCondition(const SuggestOptions& o, const GlobalOptions& global,
                                     Store& store, const SweepSpec& spec,
                                     const SweepPlan& candidates, const std::string& condition,
                                     const fitting::Approach3Result* previous) {
  FitInputOptions input;
  input.sweep = spec.name;
  input.condition = condition;
  input.metric = o.metric;
  const fitting::Dataset data = LoadFitInput(input, global, /*curves=*/false);
  fitting::Approach3Options fit_options;
  fit_options.cost = data.cost;
  fit_options.threads = o.threads;
  fitting::Approach3Result fit;
  try {
    fit = fitting::FitApproach3(
        data.points, previous != nullptr ? fitting::RefitOptions(fit_options, *previous) : fit_options);
  } catch (const UserError& e) {
    throw UserError(fmt::format(
        "sims suggest: condition {}: {} done runs cannot be fitted yet ({})\nhint: the law needs "
        "at least 6 done runs over 2 or more sizes and token counts; train more of the sweep "
        "first (sims run {})",
        condition, data.points.size(), e.what(), o.spec_path));
  }
  fitting::BootstrapOptions boot;
  boot.resamples = o.resamples;
  boot.seed = fitting::ConditionSeed(o.seed, condition);
  boot.threads = o.threads;
  const fitting::BootstrapResult ensemble =
      fitting::BootstrapApproach3(data.points, fit, fit_options, boot);

  double spent = 0, largest = 0;
  for (const fitting::Point& p : data.points) {
    spent += p.flops;
    largest = std::max(largest, p.budget > 0 ? p.budget : p.flops);
  }
  const double target_budget = o.target_budget > 0 ? o.target_budget : 10 * largest;
  const double spend = o.spend > 0 ? o.spend : spent;

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
  std::vector<const PlannedRun*> runs;
  std::vector<fitting::Candidate> pool;
  for (const PlannedRun& r : candidates.runs) {
    if (r.config.condition != condition || !open(r.id)) continue;
    double flops = r.config.flops;
    for (const std::string& dep : r.config.depends_on) {
      if (open(dep) && by_id.count(dep)) flops += by_id[dep]->config.flops;
    }
    const double n = static_cast<double>(spec.n_includes_embedding ? r.config.n_params
                                                                   : r.config.n_params_non_embedding);
    runs.push_back(&r);
    pool.push_back({n, static_cast<double>(r.config.tokens), flops});
  }
  if (pool.empty()) {
    throw UserError(fmt::format("sims suggest: condition {}: every run the planner can build is "
                                "done already; add sizes or budgets to {}",
                                condition, o.spec_path));
  }
  fitting::DesignOptions design;
  design.noise_sd = fitting::LogResidualSd(data.points, fit.params);
  design.spend_flops = spend;
  design.max_runs = o.count;
  // The law's misfit, as the replay on published pools measures the method (fitting/design.h).
  design.misfit_sd = fitting::ExtrapolationError(data.points, design.noise_sd, o.threads);
  design.observed = data.points;
  const std::vector<fitting::DesignTarget> targets =
      fitting::OptimumTargets(data.cost, target_budget, &fit.params);
  const fitting::DesignResult chosen = fitting::ChooseRuns(ensemble.law_samples, targets, pool, design);

  nlohmann::json j = {{"condition", condition},
                      {"done_runs", data.points.size()},
                      {"spent_flops", spent},
                      {"spend_flops", spend},
                      {"target_budget", target_budget},
                      {"noise_sd", design.noise_sd},
                      {"misfit_sd", design.misfit_sd}};
  nlohmann::json target_rows = nlohmann::json::array(), proposal_rows = nlohmann::json::array();
  for (size_t t = 0; t < targets.size(); ++t) {
    const double after = chosen.proposals.empty() ? chosen.sd_before[t] : chosen.proposals.back().sd_after[t];
    target_rows.push_back({{"name", targets[t].name}, {"sd_before", chosen.sd_before[t]}, {"sd_after", after}});
  }
  std::vector<std::vector<std::string>> table;
  std::vector<ProposalRow> proposals;
  SweepPlan to_apply = candidates;
  to_apply.runs.clear();
  std::set<std::string> applied;
  for (size_t i = 0; i < chosen.proposals.size(); ++i) {
    const fitting::Proposal& p = chosen.proposals[i];
    const PlannedRun& r = *runs[p.candidate];
    const fitting::Candidate& c = pool[p.candidate];
    proposal_rows.push_back({{"id", r.id}, {"size", r.size_label}, {"column", r.column_label},
                             {"n_params", c.n_params}, {"tokens", c.tokens}, {"flops", c.flops},
                             {"gain", p.gain}, {"informs", targets[p.main_target].name}});
    table.push_back({std::to_string(i + 1), r.id.substr(0, 12), r.size_label, r.column_label,
                     FormatNumber(c.n_params), FormatNumber(c.tokens), FormatNumber(c.flops),
                     fmt::format("{:.1f}%", 100 * p.gain), targets[p.main_target].name});
    for (const std::string& dep : r.config.depends_on) {
      if (by_id.count(dep) && applied.insert(dep).second) to_apply.runs.push_back(*by_id[dep]);
    }
    if (applied.insert(r.id).second) to_apply.runs.push_back(r);
    proposals.push_back({r.id, condition, 0, boot.seed, target_budget, p.gain,
                         chosen.sd_before[0], ""});
  }
  j["targets"] = target_rows;
  j["proposals"] = proposal_rows;
  j["flops_unit"] = data.cost.Unit();
  j["bootstrap_laws"] = ensemble.law_samples.size();
  j["bootstrap_seed"] = boot.seed;  // what the proposals table records: all 64 bits
  j["candidates"] = pool.size();
  return {j, table, to_apply, chosen.sd_before[0], fit, proposals};
}

AppliedSuggestion ApplySuggestion(Store& store, const ConditionSuggestion& s, int64_t round) {
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
  std::vector<std::string> conditions = o.conditions;
  if (conditions.empty()) {
    for (const ConditionSpec& c : spec.conditions) conditions.push_back(c.name);
  }
  nlohmann::json all = nlohmann::json::array();
  // One round per command, shared by its conditions (0: not applied).
  const int64_t round = o.apply ? store.NextProposalRound(spec.name) : 0;
  for (const std::string& condition : conditions) {
    if (std::none_of(spec.conditions.begin(), spec.conditions.end(),
                     [&](const ConditionSpec& c) { return c.name == condition; })) {
      throw UserError(fmt::format("sims suggest: --condition {}: not a condition of {}", condition,
                                  o.spec_path));
    }
    Log(LogLevel::kInfo, "sims suggest: fitting {} and ranking its candidates", condition);
    ConditionSuggestion s = SuggestCondition(o, global, store, spec, candidates, condition);
    if (o.apply && !s.to_apply.runs.empty()) {
      const AppliedSuggestion applied = ApplySuggestion(store, s, round);
      s.json["applied"] = {{"new", applied.new_runs},
                           {"existing", applied.existing_runs},
                           {"recorded", applied.recorded}};
    }
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
  cmd->add_option("--spend", o->spend,
                  "FLOPs the proposals may cost together, in the sweep's convention (default: "
                  "what the condition's done runs cost, i.e. double the spend)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--count", o->count, "At most this many runs per condition (0 = no cap)")
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
