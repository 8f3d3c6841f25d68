#pragma once
// JSON shapes of fit results, as stored in the `fits` table (result_json) and printed by
// `sims fit --format json`. Other tools parse these; keep them stable (docs/fitting.md).
//   approach 3: {"approach":3,"n_points","params":{"E","A","B","alpha","beta"},"objective",
//                "frontier":{"a","b","G"},"starts","full_solves","starts_at_best",
//                "huber_delta","cost_model":{"convention","source","n_params","flops_per_token"},
//                "intervals":{name:[lo,hi]},"bootstrap":{...}}
//   approach 2: {"approach":2,"n_budgets","n_opt":{"coefficient","exponent"},"d_opt":{...},
//                "allocation":{"method","cost_aware","k","p","q"} (AllocationLaw),
//                "vertices":[{"budget","n_opt","d_opt","loss","n_points"}],
//                "skipped":[{"budget","n_points","reason"}],"cost_model":{...},"intervals":{...}}
//   approach 1: {"approach":1,"n_points","envelope":[{"flops","n_params","tokens","loss"}],
//                "n_opt":{...},"d_opt":{...},"loss":{...}}
// The bootstrap's samples are stored too ("bootstrap":{"resamples","failed","seed","level",
// "law_samples":[[E,A,B,alpha,beta],...]}) so `sims recommend --fit ID` can give intervals at
// any budget without refitting. A stored fit (Store::InsertFit) has kind "approach1|2|3",
// the condition, inputs_json = Dataset::provenance plus {"options", "sims_version"}, and
// result_json = ToJson(result, bootstrap) plus "holdout" (ToJson(HoldoutResult)) when asked.
#include <nlohmann/json.hpp>

#include "fitting/approach1.h"
#include "fitting/approach2.h"
#include "fitting/approach3.h"
#include "fitting/bootstrap.h"
#include "fitting/compare.h"
#include "fitting/downstream.h"
#include "fitting/holdout.h"

namespace sims::fitting {

nlohmann::json ToJson(const Approach3Result& fit, const BootstrapResult* bootstrap = nullptr);
nlohmann::json ToJson(const Approach2Result& fit, const BootstrapResult* bootstrap = nullptr);
nlohmann::json ToJson(const Approach1Result& fit);
nlohmann::json ToJson(const DownstreamResult& fit);
nlohmann::json ToJson(const HoldoutResult& holdout);
nlohmann::json ToJson(const Comparison& comparison);
nlohmann::json ToJson(const Recommendation& recommendation);
nlohmann::json ToJson(const Interval& interval);  // [lo, hi]

// Inverses for what other tools read back from the fits table. Throw UserError naming the key.
Approach3Result Approach3FromJson(const nlohmann::json& json);
// The bootstrap part of a stored result (resamples == 0 if it has none).
BootstrapResult BootstrapFromJson(const nlohmann::json& json);

}  // namespace sims::fitting
