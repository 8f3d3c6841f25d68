#include "results/plan_store.h"

namespace sims {

StoreResult PlanIntoStore(Store& store, const SweepPlan& plan, bool dry_run) {
  StoreResult result;
  for (const PlannedRun& r : plan.runs) {
    (store.GetRun(r.id) ? result.existing_ids : result.new_ids).push_back(r.id);
  }
  if (dry_run) {
    if (auto sweep = store.FindSweep(plan.sweep)) result.sweep_id = sweep->id;
    return result;
  }
  result.sweep_id = store.UpsertSweep(
      plan.sweep, plan.spec_toml,
      SweepFacts{SweepFlopsOf(plan.flops), plan.n_includes_embedding, plan.planner_json});
  std::vector<NewRun> runs;
  for (const PlannedRun& r : plan.runs) {
    NewRun n;
    n.id = r.id;
    n.condition = r.config.condition;
    n.n_params = r.config.n_params;
    n.n_params_non_embedding = r.config.n_params_non_embedding;
    n.tokens = r.config.tokens;
    n.steps = r.config.steps;
    n.flops = r.config.flops;
    n.flops_per_token = r.config.flops / static_cast<double>(r.config.tokens);
    n.budget_flops = r.config.budget_flops;
    n.config_json = ToJson(r.config).dump();
    n.depends_on = r.config.depends_on;
    runs.push_back(std::move(n));
  }
  store.InsertRuns(result.sweep_id, runs);
  return result;
}

}  // namespace sims
