#include "fitting/json.h"

#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::fitting {
namespace {

using nlohmann::json;

// JSON has no infinity: a quantity that is never reached is written as null.
json Number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json ToJson(const PowerLaw& law) { return {{"coefficient", law.coefficient}, {"exponent", law.exponent}}; }

json IntervalsJson(const BootstrapResult* b) {
  json out = json::object();
  if (b == nullptr) return out;
  for (const auto& [name, interval] : b->intervals) out[name] = ToJson(interval);
  for (const auto& [key, interval] : b->at_budget) out[ToString(key)] = ToJson(interval);
  return out;
}

json BootstrapJson(const BootstrapResult& b) {
  json j = {{"resamples", b.resamples}, {"failed", b.failed}, {"seed", b.seed}, {"level", b.level},
            {"method", b.method}, {"stretch_df", b.stretch_df}};
  if (b.pivot_flops > 0) j["pivot_flops"] = b.pivot_flops;
  if (!b.law_samples.empty()) {
    json samples = json::array();
    for (const LawParams& l : b.law_samples) samples.push_back({l.E, l.A, l.B, l.alpha, l.beta});
    j["law_samples"] = samples;
  }
  if (!b.n_opt_samples.empty()) {
    json n = json::array(), d = json::array();
    for (size_t i = 0; i < b.n_opt_samples.size(); ++i) {
      n.push_back({b.n_opt_samples[i].coefficient, b.n_opt_samples[i].exponent});
      d.push_back({b.d_opt_samples[i].coefficient, b.d_opt_samples[i].exponent});
    }
    j["n_opt_samples"] = n;
    j["d_opt_samples"] = d;
  }
  return j;
}

template <typename T>
T Get(const json& j, const char* key, const char* what) {
  if (!j.is_object() || !j.contains(key)) {
    throw UserError(fmt::format("{} JSON: missing key '{}'", what, key));
  }
  try {
    return j.at(key).get<T>();
  } catch (const json::exception& e) {
    throw UserError(fmt::format("{} JSON: key '{}': {}", what, key, e.what()));
  }
}

}  // namespace

json ToJson(const Interval& interval) { return json::array({Number(interval.lo), Number(interval.hi)}); }

json ToJson(const Approach3Result& fit, const BootstrapResult* bootstrap) {
  json j = {
      {"approach", 3},
      {"n_points", fit.n_points},
      {"params",
       {{"E", fit.params.E}, {"A", fit.params.A}, {"B", fit.params.B}, {"alpha", fit.params.alpha},
        {"beta", fit.params.beta}}},
      {"objective", fit.objective},
      {"frontier", {{"a", fit.frontier.a}, {"b", fit.frontier.b}, {"G", fit.frontier.G}}},
      {"loss_exponent", LossComputeExponent(fit.params)},
      {"starts", fit.starts},
      {"full_solves", fit.full_solves},
      {"starts_at_best", fit.starts_at_best},
      {"huber_delta", fit.huber_delta},
      {"cost_model", ToJson(fit.cost)},
      {"intervals", IntervalsJson(bootstrap)},
  };
  if (bootstrap != nullptr && bootstrap->resamples > 0) j["bootstrap"] = BootstrapJson(*bootstrap);
  return j;
}

json ToJson(const Approach2Result& fit, const BootstrapResult* bootstrap) {
  json vertices = json::array(), skipped = json::array();
  for (const Vertex& v : fit.vertices) {
    vertices.push_back({{"budget", v.budget}, {"n_opt", v.n_opt}, {"d_opt", v.d_opt}, {"loss", v.loss},
                        {"n_points", v.n_points}});
  }
  for (const SkippedBudget& s : fit.skipped) {
    skipped.push_back({{"budget", s.budget}, {"n_points", s.n_points}, {"reason", s.reason}});
  }
  json j = {{"approach", 2},
            {"n_budgets", fit.vertices.size()},
            {"n_opt", ToJson(fit.n_opt)},
            {"d_opt", ToJson(fit.d_opt)},
            {"allocation",
             {{"method", fit.allocation.method},
              {"cost_aware", fit.allocation.cost_aware},
              {"k", fit.allocation.k},
              {"p", fit.allocation.p},
              {"q", fit.allocation.q}}},
            {"vertices", vertices},
            {"skipped", skipped},
            {"cost_model", ToJson(fit.cost)},
            {"intervals", IntervalsJson(bootstrap)}};
  if (bootstrap != nullptr && bootstrap->resamples > 0) j["bootstrap"] = BootstrapJson(*bootstrap);
  return j;
}

json ToJson(const Approach1Result& fit) {
  json envelope = json::array();
  for (const Point& p : fit.envelope) {
    envelope.push_back({{"flops", p.flops}, {"n_params", p.n_params}, {"tokens", p.tokens}, {"loss", p.loss}});
  }
  return {{"approach", 1},          {"n_points", fit.envelope.size()}, {"envelope", envelope},
          {"n_opt", ToJson(fit.n_opt)}, {"d_opt", ToJson(fit.d_opt)},    {"loss", ToJson(fit.loss)}};
}

json ToJson(const DownstreamResult& fit) {
  json best = json::array();
  for (const MetricPoint& p : fit.best) best.push_back({{"budget", p.budget}, {"flops", p.flops}, {"value", p.value}});
  json j = {{"kind", "downstream"}, {"best", best}};
  if (fit.form == DownstreamForm::kPowerLaw) {
    j["form"] = "power-law";
    j["error"] = {{"coefficient", fit.coefficient}, {"exponent", fit.exponent}};
  } else {
    j["form"] = "sigmoid";
    j["sigmoid"] = {{"floor", fit.floor}, {"ceiling", fit.ceiling}, {"slope", fit.slope}, {"log_mid", fit.log_mid}};
  }
  return j;
}

// Quantities a check did not compute are left out, not written as 0.
json ToJson(const HoldoutResult& h) {
  json rows = json::array();
  for (const HoldoutRow& r : h.rows) {
    json row = {{"budget", r.budget},
                {"loss_observed", r.loss_observed},
                {"n_opt_observed", r.n_opt_observed},
                {"n_opt_predicted", r.n_opt_predicted},
                {"d_opt_observed", r.d_opt_observed},
                {"d_opt_predicted", r.d_opt_predicted}};
    if (r.loss_predicted) row["loss_predicted"] = *r.loss_predicted;
    rows.push_back(row);
  }
  json j = {{"held_out_budgets", h.held_out_budgets}, {"n_points_fitted", h.n_points_fitted},
            {"rows", rows}};
  if (h.loss_rel_error) j["loss_rel_error"] = *h.loss_rel_error;
  if (h.n_opt_rel_error) j["n_opt_rel_error"] = *h.n_opt_rel_error;
  if (h.d_opt_rel_error) j["d_opt_rel_error"] = *h.d_opt_rel_error;
  return j;
}

json ToJson(const Comparison& c) {
  auto summary = [&](const ConditionSummary& s) {
    json j = {{"condition", s.condition}, {"a", s.a}, {"b", s.b}, {"loss_exponent", s.loss_exponent},
              {"tokens_per_param", s.tokens_per_param}};
    if (s.a_interval) j["a_interval"] = ToJson(*s.a_interval);
    if (s.b_interval) j["b_interval"] = ToJson(*s.b_interval);
    if (s.loss_exponent_interval) j["loss_exponent_interval"] = ToJson(*s.loss_exponent_interval);
    return j;
  };
  json rows = json::array();
  for (const MultiplierRow& m : c.multipliers) {
    json row = {{"budget", m.budget}, {"loss_first", m.loss_first}, {"flops_second", Number(m.flops_second)},
                {"multiplier", Number(m.multiplier)}};
    if (m.interval) row["interval"] = ToJson(*m.interval);
    rows.push_back(row);
  }
  json j = {{"first", summary(c.first)}, {"second", summary(c.second)}, {"budgets", c.budgets},
            {"multipliers", rows},
            {"crossing_flops", c.crossing_flops ? json(*c.crossing_flops) : json(nullptr)},
            {"p_allocation_exponent", c.p_allocation_exponent ? json(*c.p_allocation_exponent) : json(nullptr)},
            {"p_loss_exponent", c.p_loss_exponent ? json(*c.p_loss_exponent) : json(nullptr)}};
  return j;
}

json ToJson(const Recommendation& r) {
  json j = {{"budget", r.budget}, {"n_params", r.n_params}, {"tokens", r.tokens},
            {"tokens_per_param", r.tokens_per_param}, {"loss", r.loss}};
  json iv = json::object();
  if (r.n_params_interval) iv["n_params"] = ToJson(*r.n_params_interval);
  if (r.tokens_interval) iv["tokens"] = ToJson(*r.tokens_interval);
  if (r.tokens_per_param_interval) iv["tokens_per_param"] = ToJson(*r.tokens_per_param_interval);
  if (r.loss_interval) iv["loss"] = ToJson(*r.loss_interval);
  j["intervals"] = iv;
  return j;
}

Approach3Result Approach3FromJson(const json& j) {
  const char* what = "approach 3";
  if (Get<int>(j, "approach", what) != 3) throw UserError("approach 3 JSON: \"approach\" is not 3");
  Approach3Result r;
  const json& p = j.at("params");
  r.params = {Get<double>(p, "E", what), Get<double>(p, "A", what), Get<double>(p, "B", what),
              Get<double>(p, "alpha", what), Get<double>(p, "beta", what)};
  r.optimum = {std::log(r.params.E), std::log(r.params.A), std::log(r.params.B), r.params.alpha, r.params.beta};
  r.frontier = FrontierOf(r.params);
  r.n_points = Get<int>(j, "n_points", what);
  r.objective = Get<double>(j, "objective", what);
  r.starts = j.value("starts", 0);
  r.full_solves = j.value("full_solves", 0);
  r.starts_at_best = j.value("starts_at_best", 0);
  r.huber_delta = j.value("huber_delta", 1e-3);
  r.cost = CostModelFromJson(j.value("cost_model", json()));
  return r;
}

BootstrapResult BootstrapFromJson(const json& j) {
  BootstrapResult r;
  if (j.contains("intervals")) {
    for (const auto& [name, iv] : j.at("intervals").items()) {
      auto num = [](const json& x) { return x.is_null() ? INFINITY : x.get<double>(); };
      const Interval interval{num(iv.at(0)), num(iv.at(1))};
      if (const std::optional<BudgetQuantity> key = BudgetQuantityFromString(name)) {
        r.at_budget[*key] = interval;
      } else {
        r.intervals[name] = interval;
      }
    }
  }
  if (!j.contains("bootstrap")) return r;
  const json& b = j.at("bootstrap");
  r.resamples = b.value("resamples", 0);
  r.failed = b.value("failed", 0);
  r.seed = b.value("seed", uint64_t{0});
  r.level = b.value("level", 0.95);
  r.method = b.value("method", std::string());  // empty: stored before the method was recorded
  r.stretch_df = b.value("stretch_df", 0);
  r.pivot_flops = b.value("pivot_flops", 0.0);
  for (const json& s : b.value("law_samples", json::array())) {
    r.law_samples.push_back({s.at(0).get<double>(), s.at(1).get<double>(), s.at(2).get<double>(),
                             s.at(3).get<double>(), s.at(4).get<double>()});
  }
  const json n = b.value("n_opt_samples", json::array()), d = b.value("d_opt_samples", json::array());
  for (size_t i = 0; i < n.size() && i < d.size(); ++i) {
    r.n_opt_samples.push_back({n[i].at(0).get<double>(), n[i].at(1).get<double>()});
    r.d_opt_samples.push_back({d[i].at(0).get<double>(), d[i].at(1).get<double>()});
  }
  return r;
}

}  // namespace sims::fitting
