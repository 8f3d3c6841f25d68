// sims recommend --budget C: how to spend a compute budget under a stored approach-3 fit:
// N, D, tokens per parameter and predicted loss, each with its bootstrap interval (from the
// fit's stored resamples), all priced in the fit's own FLOP convention, and the shape to train:
// the planner's shape near N_opt with the lowest predicted loss at the D that spends the budget.
#include <cmath>
#include <iostream>
#include <limits>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/format.h"
#include "fitting/json.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/fit_inputs.h"
#include "results/store.h"
#include "sweeps/plan.h"
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

// What the fitted sweep's planner decided (sweeps.planner_json): its shape rule, vocabulary
// and per-condition context. Absent for imported sweeps and fits of CSV files.
struct PlannerFacts {
  ShapeRule rule;
  int64_t vocab_size = 0;
  int64_t context = 0;
  FlopConvention convention = FlopConvention::k6ND;
  bool n_includes_embedding = false;
  bool known = false;
};

PlannerFacts FactsOfFit(Store& store, const nlohmann::json& inputs, const std::string& condition) {
  PlannerFacts facts;
  if (inputs.value("source", "") != "store") return facts;
  const std::optional<SweepRow> sweep = store.FindSweep(inputs.value("sweep", ""));
  if (!sweep || sweep->facts.planner_json.empty()) return facts;
  const std::optional<FlopConvention> planned = PlannerConvention(sweep->facts.flops_convention);
  if (!planned) return facts;
  const auto planner = nlohmann::json::parse(sweep->facts.planner_json);
  facts.rule = ShapeRuleFromJson(planner.at("shape_rule"));
  facts.vocab_size = planner.at("vocab_size").get<int64_t>();
  const auto& curves = planner.at("cost_curves");
  const std::string key = curves.contains(condition) ? condition : curves.begin().key();
  facts.context = curves.at(key).at("context").get<int64_t>();
  facts.convention = *planned;
  facts.n_includes_embedding = sweep->facts.n_includes_embedding;
  facts.known = true;
  return facts;
}

// The shape to train for `budget`: among the shapes the sweep's rule builds for N within 2x of
// the fitted N_opt, the one the law predicts the lowest loss for when it is trained on the D
// that spends the budget exactly, priced as the planner prices it (exact FLOPs at the sweep's
// context). At toy sizes the rule's cost per token jumps by +-20 % between neighbouring
// shapes (the output head depends on d_model, not N), so the nearest N is not the best buy.
struct ShapeChoice {
  ModelShape shape;
  double n_params = 0;  // as the fit counts N
  double tokens = 0;    // spends the budget exactly
  double loss = 0;      // the law's prediction
};

std::optional<ShapeChoice> BestShape(const fitting::Approach3Result& fit, double budget, double n_opt,
                                     bool n_is_total, int64_t vocab_size, bool tied,
                                     const PlannerFacts& facts, std::string& why) {
  if (vocab_size <= 0) {
    why = "the fit's sweep has no vocabulary size; pass --vocab-size";
    return std::nullopt;
  }
  std::optional<ShapeChoice> best;
  std::set<std::pair<int64_t, int64_t>> seen;
  // Non-embedding targets from 1 % to 2x of N: with a total N the embedding share is unknown.
  for (int k = 0; k <= 300; ++k) {
    const double target = n_opt * std::pow(10.0, -2.0 + 2.30103 * k / 300);
    ModelShape shape;
    try {
      shape = ShapeForParams(static_cast<int64_t>(target), vocab_size, tied, facts.rule);
    } catch (const UserError& e) {
      why = e.what();  // no shape near this target under the rule; other targets may have one
      continue;
    }
    if (!seen.insert({shape.layers, shape.d_model}).second) continue;
    const ParamCounts counts = CountParams(shape);
    const double n = static_cast<double>(n_is_total ? counts.total : counts.non_embedding);
    if (n < n_opt / 2 || n > 2 * n_opt) continue;
    const double per_token = facts.known ? TrainingFlopsPerToken(shape, facts.context, facts.convention,
                                                                 facts.n_includes_embedding)
                                         : fit.cost.FlopsPerToken(n);
    ShapeChoice choice{shape, n, budget / per_token, 0};
    choice.loss = fitting::PredictLoss(fit.params, choice.n_params, choice.tokens);
    if (!best || choice.loss < best->loss) best = choice;
  }
  if (!best) {
    why = fmt::format("no shape of the sweep's shape rule has {:.4g} {} parameters within 2x{}", n_opt,
                      n_is_total ? "total" : "non-embedding",
                      why.empty() ? "" : " (" + why.substr(0, why.find('\n')) + ")");
  }
  return best;
}

}  // namespace

nlohmann::json RunRecommend(const RecommendOptions& o, const GlobalOptions& global, std::ostream& out) {
  if (o.budgets.empty()) throw UserError("recommend: --budget C is required (FLOPs, e.g. 1e21)");
  for (double budget : o.budgets) {
    if (!(budget > 0) || !std::isfinite(budget)) {
      throw UserError(fmt::format("recommend: --budget {} is not a finite number of FLOPs > 0", budget));
    }
  }
  Store store = Store::Open(global.db, OpenMode::kExisting);
  const FitRow row = ChooseFit(store, o);
  const nlohmann::json result = nlohmann::json::parse(row.result_json);
  const nlohmann::json inputs = nlohmann::json::parse(row.inputs_json);
  const fitting::Approach3Result fit = fitting::Approach3FromJson(result);
  const fitting::BootstrapResult boot = fitting::BootstrapFromJson(result);
  const PlannerFacts facts = FactsOfFit(store, inputs, row.condition);
  // Shapes follow the fitted sweep's own [shape_rule] (the demo's tiny head_dim-16 rule, say);
  // the default rule only for fits of imported or CSV data, whose sweep has no shapes.
  const int64_t vocab = o.vocab_size > 0 ? o.vocab_size : facts.vocab_size;
  const bool n_is_total = inputs.value("params", std::string("total")) == "total";
  nlohmann::json all = nlohmann::json::array();
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> notes;
  auto with = [](double v, const std::optional<fitting::Interval>& iv) {
    return FormatWithInterval(v, iv, 4);
  };
  for (double budget : o.budgets) {
    const fitting::Recommendation r = fitting::Recommend(fit, boot, budget);
    nlohmann::json j = fitting::ToJson(r);
    j["fit_id"] = row.id;
    j["condition"] = row.condition;
    j["flops_convention"] = fit.cost.convention;
    std::string why;
    const std::optional<ShapeChoice> choice =
        BestShape(fit, budget, r.n_params, n_is_total, vocab, o.tied, facts, why);
    std::string shape_cell = "no shape within 2x";
    if (choice) {
      const ModelShape& shape = choice->shape;
      const ParamCounts counts = CountParams(shape);
      j["shape"] = {{"layers", shape.layers}, {"d_model", shape.d_model}, {"heads", shape.heads},
                    {"d_ff", shape.d_ff}, {"vocab_size", shape.vocab_size}, {"n_params", counts.total},
                    {"n_params_non_embedding", counts.non_embedding}, {"tokens", choice->tokens},
                    {"loss", choice->loss}, {"priced_by", facts.known ? "the sweep's planner" : fit.cost.source}};
      shape_cell = fmt::format("{}L x {}d ({} heads): N {}, D {}, loss {}", shape.layers, shape.d_model,
                               shape.heads, FormatNumber(choice->n_params, 4), FormatNumber(choice->tokens, 4), FormatNumber(choice->loss, 4));
    } else {
      j["shape_note"] = why;
      notes.push_back(fmt::format("budget {}: {}", FormatNumber(budget, 4), why));
    }
    rows.push_back({FormatNumber(budget, 4), with(r.n_params, r.n_params_interval), with(r.tokens, r.tokens_interval),
                    with(r.tokens_per_param, r.tokens_per_param_interval), with(r.loss, r.loss_interval),
                    shape_cell});
    all.push_back(j);
  }
  if (o.format == Format::kJson) {
    out << (all.size() == 1 ? all[0] : all).dump(2) << '\n';
  } else {
    out << fmt::format("fit {} ({}{}, {} bootstrap resamples); budgets in {}, cost of an unseen N: {}\n",
                       row.id, row.kind, row.condition.empty() ? "" : ", condition " + row.condition,
                       boot.law_samples.size(), fit.cost.Unit(), fit.cost.source);
    PrintTable(out, {"budget", "N", "D", "D/N", "loss", "shape to train (spends the budget)"}, rows);
    for (const std::string& note : notes) out << note << '\n';
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
