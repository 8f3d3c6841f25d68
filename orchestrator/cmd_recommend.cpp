// sims recommend --budget C: how to spend a compute budget under a stored approach-3 fit:
// N, D, tokens per parameter and predicted loss, each with its bootstrap interval (from the
// fit's stored resamples), and the nearest valid model shape by the planner's rule
// (sweeps/shape.h ShapeForParams).
#include <cmath>
#include <iostream>
#include <limits>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "fitting/json.h"
#include "orchestrator/commands.h"
#include "orchestrator/fit_inputs.h"
#include "results/store.h"
#include "sweeps/plan.h"
#include "sweeps/run_config.h"
#include "sweeps/shape.h"

namespace sims {

struct RecommendOptions {
  std::vector<double> budgets;  // FLOPs
  std::string condition;        // the latest approach-3 fit of this condition
  int64_t fit_id = 0;           // or this fit
  int64_t vocab_size = 0;       // for the shape; 0 = from the fit's first run (store fits)
  bool tied = true;
  Format format = Format::kTable;
};

namespace {

FitRow ChooseFit(Store& store, const RecommendOptions& o) {
  if (o.fit_id > 0) {
    auto fit = store.GetFit(o.fit_id);
    if (!fit) throw UserError(fmt::format("recommend: no fit {} in {}", o.fit_id, store.path()));
    if (fit->kind != "approach3") {
      throw UserError(fmt::format("recommend: fit {} is {}, need an approach-3 fit; hint: sims fit --approach 3",
                                  o.fit_id, fit->kind));
    }
    return *fit;
  }
  std::optional<FitRow> latest;
  for (const FitRow& f : store.ListFits("approach3")) {
    if (f.condition == o.condition && (!latest || f.id > latest->id)) latest = f;
  }
  if (!latest) {
    throw UserError(fmt::format("recommend: no approach-3 fit{} in {}; hint: sims fit --sweep NAME{} --bootstrap 1000",
                                o.condition.empty() ? "" : " of condition '" + o.condition + "'", store.path(),
                                o.condition.empty() ? "" : " --condition " + o.condition));
  }
  return *latest;
}

// The planner's shape nearest to N parameters (N counted as the fit counted it).
nlohmann::json NearestShape(double n_params, bool n_is_total, int64_t vocab_size, bool tied,
                            const ShapeRule& rule) {
  if (vocab_size <= 0) return {{"note", "no vocabulary size: pass --vocab-size"}};
  try {
    ModelShape shape;
    if (!n_is_total) {
      shape = ShapeForParams(static_cast<int64_t>(n_params), vocab_size, tied, rule);
    } else {
      // The embedding share depends on d_model, so scan non-embedding targets from 1% to 100%
      // of N and keep the shape whose total count is nearest N.
      double best_error = std::numeric_limits<double>::infinity();
      for (int k = 0; k <= 200; ++k) {
        const auto target = static_cast<int64_t>(n_params * std::pow(10.0, -2.0 + k / 100.0));
        try {
          ModelShape candidate = ShapeForParams(target, vocab_size, tied, rule);
          double error = std::abs(static_cast<double>(CountParams(candidate).total) - n_params);
          if (error < best_error) best_error = error, shape = candidate;
        } catch (const UserError&) {
          // No shape near this target under the rule; other targets may have one.
        }
      }
      if (!std::isfinite(best_error)) {
        return {{"note", fmt::format("no shape under the sweep's rule has about {:.4g} parameters "
                                     "in total", n_params)}};
      }
    }
    const ParamCounts counts = CountParams(shape);
    return {{"layers", shape.layers}, {"d_model", shape.d_model}, {"heads", shape.heads},
            {"d_ff", shape.d_ff}, {"vocab_size", shape.vocab_size}, {"n_params", counts.total},
            {"n_params_non_embedding", counts.non_embedding}};
  } catch (const UserError& e) {
    return {{"note", e.what()}};
  }
}

}  // namespace

nlohmann::json RunRecommend(const RecommendOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (o.budgets.empty()) throw UserError("recommend: --budget C is required (FLOPs, e.g. 1e21)");
  Store store = Store::Open(global.db);
  const FitRow row = ChooseFit(store, o);
  const nlohmann::json result = nlohmann::json::parse(row.result_json);
  const nlohmann::json inputs = nlohmann::json::parse(row.inputs_json);
  const fitting::Approach3Result fit = fitting::Approach3FromJson(result);
  const fitting::BootstrapResult boot = fitting::BootstrapFromJson(result);
  int64_t vocab = o.vocab_size;
  // Shapes follow the fitted sweep's own [shape_rule] (the demo's tiny head_dim-16 rule, say);
  // the default rule only for fits of imported data, whose sweep has no shapes.
  ShapeRule rule;
  if (inputs.contains("run_ids") && !inputs["run_ids"].empty()) {
    if (auto run = store.GetRun(inputs["run_ids"][0].get<std::string>())) {
      try {
        if (vocab == 0) {
          vocab = RunConfigFromJson(nlohmann::json::parse(run->config_json)).shape.vocab_size;
        }
        if (auto sweep = store.FindSweep(run->sweep)) {
          rule = ParseSweep(sweep->spec_toml, "sweep " + sweep->name + " (as stored)").shape_rule;
        }
      } catch (const std::exception&) {
        // An imported run has no shape and its sweep no sweep file: the default rule applies,
        // and the user can pass --vocab-size.
      }
    }
  }
  const bool n_is_total = inputs.value("params", std::string("total")) == "total";
  nlohmann::json all = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  auto with = [](double v, const std::optional<fitting::Interval>& iv) {
    return iv ? fmt::format("{} [{}, {}]", Fmt(v), Fmt(iv->lo), Fmt(iv->hi)) : Fmt(v);
  };
  for (double budget : o.budgets) {
    const fitting::Recommendation r = fitting::Recommend(fit, boot, budget);
    nlohmann::json j = fitting::ToJson(r);
    j["fit_id"] = row.id;
    j["condition"] = row.condition;
    j["shape"] = NearestShape(r.n_params, n_is_total, vocab, o.tied, rule);
    const auto& s = j["shape"];
    rows.push_back({Fmt(budget), with(r.n_params, r.n_params_interval), with(r.tokens, r.tokens_interval),
                    with(r.tokens_per_param, r.tokens_per_param_interval), with(r.loss, r.loss_interval),
                    s.contains("layers") ? fmt::format("{}L x {}d ({} heads)", s["layers"].get<int64_t>(),
                                                       s["d_model"].get<int64_t>(), s["heads"].get<int64_t>())
                                         : s["note"].get<std::string>()});
    all.push_back(j);
  }
  if (o.format == Format::kJson) {
    out << (all.size() == 1 ? all[0] : all).dump(2) << '\n';
  } else {
    out << fmt::format("fit {} ({}{}, {} bootstrap resamples)\n", row.id, row.kind,
                       row.condition.empty() ? "" : ", condition " + row.condition, boot.law_samples.size());
    PrintTable(out, {"budget", "N", "D", "D/N", "loss", "nearest shape"}, rows);
  }
  return all;
}

void SetupRecommendCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<RecommendOptions>();
  cmd->add_option("--budget", o->budgets, "Compute budget(s) in FLOPs, e.g. 1e21")->required();
  cmd->add_option("--condition", o->condition, "Use the latest approach-3 fit of this condition")
      ->check(NameCheck(NameKind::kCondition));
  cmd->add_option("--fit", o->fit_id, "Use this stored fit (id from sims export --table fits)");
  cmd->add_option("--vocab-size", o->vocab_size, "Vocabulary size for the shape (default: the fit's runs')");
  cmd->add_flag("--tied,!--untied", o->tied, "Tied input/output embeddings for the shape");
  AddFormatOption(cmd, o->format, {"table", "json"});
  cmd->callback([o, &global] { RunRecommend(*o, global, std::cout); });
}

}  // namespace sims
