#pragma once
// Writing a sweep plan into the store: the one place where the planner's output meets SQLite.
// It lives here, on the results side of "sweeps -> results", so that sims_sweeps (and the corpus
// and tokenizer libraries that link it) never link SQLite; the planner stays pure, the store
// knows nothing of sweep files, and this small library links both.
//
//   StoreResult r = PlanIntoStore(store, PlanSweep(LoadSweepFile(path)), /*dry_run=*/false);
#include <cstdint>
#include <string>
#include <vector>

#include "results/store.h"
#include "sweeps/plan.h"

namespace sims {

struct StoreResult {
  int64_t sweep_id = 0;                   // 0 on a dry run of a sweep not yet stored
  std::vector<std::string> new_ids;       // in plan order
  std::vector<std::string> existing_ids;  // already in the database
  std::vector<std::string> execution_changed_ids;  // existing, not done, given new ranks
};

// Upserts the sweep (by name) with what the planner decided, then inserts the new runs with
// their dependencies in one transaction; runs already there (same id) are left as they are,
// whatever their status, except their execution (ranks, shard_optimizer: not part of the id),
// which is updated where the run is not done, so the next attempt trains with the new ranks. With
// dry_run nothing is written (the store is only read). A plan whose corpus is not the one the
// sweep's stored runs were planned with is refused (UserError naming both), dry run or not: every
// id would change and every run would train again.
StoreResult PlanIntoStore(Store& store, const SweepPlan& plan, bool dry_run);

}  // namespace sims
