#include "results/plan_store.h"

#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace sims {
namespace {

// The corpus is part of every run's config, so a plan read with another corpus path matches
// none of the sweep's stored runs and would train them all again under new ids.
void CheckSameCorpus(Store& store, const SweepPlan& plan) {
  if (plan.runs.empty()) return;
  std::set<std::string> stored;
  for (const RunRow& r : store.ListRuns({plan.sweep, "", std::nullopt})) {
    const auto config = nlohmann::json::parse(r.config_json, nullptr, /*allow_exceptions=*/false);
    if (config.is_object() && config.contains("corpus") && config["corpus"].is_string()) {
      stored.insert(config["corpus"].get<std::string>());
    }
  }
  const std::string& planned = plan.runs.front().config.corpus;
  if (stored.empty() || stored.count(planned)) return;
  throw UserError(fmt::format(
      "sweep {}: its stored runs were planned with the corpus {}, this plan reads {}: none of its "
      "runs would match them, and every run would train again under a new id\nhint: pass "
      "--corpus {} (sims plan, run and suggest take it), or rename the sweep to start over",
      plan.sweep, *stored.begin(), planned, *stored.begin()));
}

}  // namespace

StoreResult PlanIntoStore(Store& store, const SweepPlan& plan, bool dry_run) {
  CheckSameCorpus(store, plan);
  StoreResult result;
  std::vector<std::pair<std::string, std::string>> execution_updates;  // (id, new config)
  for (const PlannedRun& r : plan.runs) {
    const std::optional<RunRow> stored = store.GetRun(r.id);
    if (!stored) {
      result.new_ids.push_back(r.id);
      continue;
    }
    result.existing_ids.push_back(r.id);
    const auto stored_json = nlohmann::json::parse(stored->config_json, nullptr, false);
    const nlohmann::json planned_json = ToJson(r.config);
    const auto execution = [](const nlohmann::json& j) {
      return j.is_object() && j.contains("execution") ? j["execution"] : nlohmann::json();
    };
    if (stored->status != RunStatus::kDone && execution(stored_json) != execution(planned_json)) {
      result.execution_changed_ids.push_back(r.id);
      execution_updates.emplace_back(r.id, planned_json.dump());
    }
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
  for (const auto& [id, config_json] : execution_updates) store.UpdateRunConfig(id, config_json);
  return result;
}

}  // namespace sims
