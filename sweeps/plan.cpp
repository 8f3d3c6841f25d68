#include "sweeps/plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"
#include "common/format.h"

namespace sims {
namespace {

// Bounds that keep every count and FLOP figure far from int64/double trouble. Real sweeps are
// orders of magnitude inside them.
constexpr double kMaxTokens = 1e16;

}  // namespace

// 200000 -> "200k", 1543714304 -> "1.54B".
int64_t ConventionParams(const SweepSpec& spec, const ModelShape& shape) {
  const ParamCounts c = CountParams(shape);
  return spec.n_includes_embedding ? c.total : c.non_embedding;
}

namespace {

double FlopsPerToken(const SweepSpec& spec, const ModelShape& shape, int64_t context) {
  return TrainingFlopsPerToken(shape, context, spec.flops, spec.n_includes_embedding);
}

// Fills tokens, steps and every count/FLOP field of `c` for `tokens_requested`.
void Account(const SweepSpec& spec, double tokens_requested, RunConfig& c) {
  const int64_t batch = c.hp.batch_tokens;
  c.steps = std::max<int64_t>(1, std::llround(tokens_requested / static_cast<double>(batch)));
  c.tokens = c.steps * batch;
  const ParamCounts counts = CountParams(c.shape);
  c.n_params = counts.total;
  c.n_params_non_embedding = counts.non_embedding;
  const int64_t n = ConventionParams(spec, c.shape);
  c.flops_6nd = Flops6ND(n, c.tokens);
  c.flops_exact = TrainingFlopsExact(c.shape, c.hp.context, c.tokens);
  c.flops = FlopsPerToken(spec, c.shape, c.hp.context) * static_cast<double>(c.tokens);
}

bool SameBudget(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(a, b); }

nlohmann::json CurveJson(const CostCurve& c) {
  return {{"context", c.context},
          {"n_params", c.n_params},
          {"n_params_non_embedding", c.n_params_non_embedding},
          {"flops_per_token", c.flops_per_token}};
}

// The condition's smallest and largest non-embedding targets.
std::pair<double, double> TargetRange(const DesignSpec& d) {
  double lo = HUGE_VAL, hi = 0;
  for (const SizeSpec& size : d.sizes) {
    const double n = size.target_non_embedding > 0
                         ? static_cast<double>(size.target_non_embedding)
                         : static_cast<double>(CountParams(size.shape).non_embedding);
    lo = std::min(lo, n);
    hi = std::max(hi, n);
  }
  return {lo, hi};
}

// A curve reaching from 30x below the smallest size to 1e4x above the largest: far enough for
// a recommendation at 100x the sweep's largest budget.
std::string PlannerJson(const SweepSpec& spec) {
  nlohmann::json curves = nlohmann::json::object();
  double all_lo = HUGE_VAL, all_hi = 0;
  for (const ConditionSpec& cond : spec.conditions) {
    const auto [lo, hi] = TargetRange(cond.design);
    all_lo = std::min(all_lo, lo);
    all_hi = std::max(all_hi, hi);
    curves[cond.name] = CurveJson(CostCurveOf(spec, cond.hp.context, lo / 30, hi * 1e4));
  }
  if (spec.text_lm) {
    curves["text-lm"] = CurveJson(CostCurveOf(spec, spec.text_lm->hp.context, all_lo / 30, all_hi * 1e4));
  }
  return nlohmann::json{{"shape_rule", ToJson(spec.shape_rule)},
                                      {"vocab_size", spec.vocab_size},
                                      {"tied_embeddings", spec.tied_embeddings},
                                      {"cost_curves", curves}}
      .dump();
}

// One column of a design: a budget, a tokens-per-parameter ratio or a token count.
struct Column {
  std::string label;
  double budget = 0, tokens_per_param = 0;
  int64_t tokens = 0;
};

std::vector<Column> ColumnsOf(const DesignSpec& d) {
  std::vector<Column> columns;
  for (double b : d.budgets) columns.push_back({FormatNumber(b), b, 0, 0});
  for (double r : d.tokens_per_param) columns.push_back({FormatNumber(r), 0, r, 0});
  for (int64_t t : d.tokens) columns.push_back({std::to_string(t), 0, 0, t});
  return columns;
}

// The condition's hyper-parameters with every matching override applied (in file order), and
// where the last one came from (for messages); marks the overrides used.
std::pair<Hyperparameters, std::string> HpFor(const ConditionSpec& cond, const SizeSpec& size,
                                              const Column& col, std::vector<bool>& used) {
  Hyperparameters hp = cond.hp;
  std::string where = cond.origin.Where();
  for (size_t i = 0; i < cond.overrides.size(); ++i) {
    const RunOverride& o = cond.overrides[i];
    if (o.size && *o.size != size.target_non_embedding) continue;
    if (o.label && *o.label != size.label) continue;
    if (o.budget && !SameBudget(*o.budget, col.budget)) continue;
    hp = Apply(hp, o.hp);
    where = o.origin.Where();
    used[i] = true;
  }
  ValidateHyperparameters(hp, where);
  return {hp, where};
}

// Why the point is skipped ("" = it is planned): D below min_tokens (default: one batch),
// tokens per parameter outside the design's bounds, or D above what sims plans.
std::string SkipReason(const DesignSpec& d, double requested, double tpp, int64_t batch_tokens) {
  const int64_t min_tokens = d.min_tokens > 0 ? d.min_tokens : batch_tokens;
  if (requested < static_cast<double>(min_tokens)) {
    return fmt::format("D = {} tokens is below min_tokens = {}", FormatNumber(requested),
                       min_tokens);
  }
  if (d.min_tokens_per_param > 0 && tpp < d.min_tokens_per_param) {
    return fmt::format("{:.3g} tokens/param is below min_tokens_per_param = {}", tpp,
                       d.min_tokens_per_param);
  }
  if (d.max_tokens_per_param > 0 && tpp > d.max_tokens_per_param) {
    return fmt::format("{:.3g} tokens/param is above max_tokens_per_param = {}", tpp,
                       d.max_tokens_per_param);
  }
  if (requested > kMaxTokens) {
    return fmt::format("D = {} tokens is above the 1e16 sims plans", FormatNumber(requested));
  }
  return "";
}

// The text LM of `size`: condition "text-lm", text stream only, scratch init.
PlannedRun TextLmRun(const SweepSpec& spec, const SizeSpec& size) {
  const TextLmSpec& lm = *spec.text_lm;
  PlannedRun base;
  RunConfig& b = base.config;
  b.sweep = spec.name;
  b.condition = "text-lm";
  b.design = DesignKind::kTextLm;
  b.seed = spec.seed;
  b.shape = size.shape;
  b.mixture = DataMixture{1, 0, 0};
  b.hp = lm.hp;
  b.corpus = spec.corpus;
  const int64_t n = ConventionParams(spec, size.shape);
  double tokens = static_cast<double>(lm.tokens);
  if (lm.tokens_per_param > 0) tokens = lm.tokens_per_param * static_cast<double>(n);
  if (lm.flops > 0) tokens = lm.flops / FlopsPerToken(spec, size.shape, lm.hp.context);
  if (tokens > kMaxTokens) {
    throw UserError(fmt::format(
        "{}: the text LM of size {} would train on {} tokens, above the 1e16 sims plans",
        lm.origin.Where(), size.label, FormatNumber(tokens)));
  }
  Account(spec, tokens, b);
  Validate(b, lm.origin.Where());
  base.id = RunId(b);
  base.size_label = size.label;
  base.column_label = "text-lm";
  base.tokens_requested = tokens;
  base.tokens_per_param = static_cast<double>(b.tokens) / static_cast<double>(n);
  return base;
}

// The runs of one condition, text LMs (deduplicated across conditions) into `text_lms`.
class ConditionPlanner {
 public:
  ConditionPlanner(const SweepSpec& spec, SweepPlan& plan, std::vector<PlannedRun>& text_lms,
                   std::set<std::string>& text_lm_ids)
      : spec_(spec), plan_(plan), text_lms_(text_lms), text_lm_ids_(text_lm_ids) {}

  std::vector<PlannedRun> Plan(const ConditionSpec& cond);

 private:
  void Point(const ConditionSpec& cond, const SizeSpec& size, const Column& col);
  void CheckAllPlannedAndUsed(const ConditionSpec& cond) const;

  const SweepSpec& spec_;
  SweepPlan& plan_;
  std::vector<PlannedRun>& text_lms_;
  std::set<std::string>& text_lm_ids_;
  std::vector<PlannedRun> runs_;
  std::set<std::string> ids_;
  std::vector<bool> override_used_;
  size_t skipped_ = 0;
  std::string first_skip_;
};

std::vector<PlannedRun> ConditionPlanner::Plan(const ConditionSpec& cond) {
  override_used_.assign(cond.overrides.size(), false);
  const std::vector<Column> columns = ColumnsOf(cond.design);
  for (const SizeSpec& size : cond.design.sizes) {
    for (const Column& col : columns) Point(cond, size, col);
  }
  CheckAllPlannedAndUsed(cond);
  return std::move(runs_);
}

void ConditionPlanner::Point(const ConditionSpec& cond, const SizeSpec& size, const Column& col) {
  const DesignSpec& d = cond.design;
  const auto [hp, hp_where] = HpFor(cond, size, col, override_used_);
  const int64_t n = ConventionParams(spec_, size.shape);
  double requested = static_cast<double>(col.tokens);
  if (col.budget > 0) requested = col.budget / FlopsPerToken(spec_, size.shape, hp.context);
  if (col.tokens_per_param > 0) requested = col.tokens_per_param * static_cast<double>(n);
  const std::string reason =
      SkipReason(d, requested, requested / static_cast<double>(n), hp.batch_tokens);
  if (!reason.empty()) {
    plan_.skipped.push_back({cond.name, size.label, col.label, reason});
    if (first_skip_.empty()) first_skip_ = size.label + " x " + col.label + ": " + reason;
    ++skipped_;
    return;
  }
  PlannedRun run;
  RunConfig& c = run.config;
  c.sweep = spec_.name;
  c.condition = cond.name;
  c.design = d.kind;
  c.seed = spec_.seed;
  c.shape = size.shape;
  c.mixture = cond.mixture;
  c.init.kind = cond.init;
  c.hp = hp;
  c.budget_flops = col.budget;
  c.corpus = spec_.corpus;
  Account(spec_, requested, c);
  Validate(c, hp_where);
  if (cond.init == InitKind::kCheckpoint) c.init.checkpoint_path = size.checkpoint;
  if (cond.init == InitKind::kTextLm) {
    PlannedRun base = TextLmRun(spec_, size);
    c.init.run_id = base.id;
    c.depends_on = {base.id};
    if (text_lm_ids_.insert(base.id).second) text_lms_.push_back(std::move(base));
  }
  run.id = RunId(c);
  if (!ids_.insert(run.id).second) {
    throw UserError(fmt::format(
        "{}: two points of condition '{}' resolve to the same run ({} x {}); remove the "
        "duplicate size or column",
        d.origin.Where(), cond.name, size.label, col.label));
  }
  run.size_label = size.label;
  run.column_label = col.label;
  run.tokens_requested = requested;
  run.tokens_per_param = static_cast<double>(c.tokens) / static_cast<double>(n);
  runs_.push_back(std::move(run));
}

void ConditionPlanner::CheckAllPlannedAndUsed(const ConditionSpec& cond) const {
  if (runs_.empty()) {
    throw UserError(fmt::format(
        "{}: the design of condition '{}' yields no run: all {} points were skipped (first: "
        "{}) (hint: widen min/max_tokens_per_param, lower min_tokens, or change budgets/sizes)",
        cond.design.origin.Where(), cond.name, skipped_, first_skip_));
  }
  for (size_t i = 0; i < cond.overrides.size(); ++i) {
    if (!override_used_[i]) {
      throw UserError(
          fmt::format("{}: this override matches no run of condition '{}' (check "
                      "its size/label/budget against the design)",
                      cond.overrides[i].origin.Where(), cond.name));
    }
  }
}

}  // namespace

CostCurve CostCurveOf(const SweepSpec& spec, int64_t context, double target_lo, double target_hi) {
  CostCurve curve;
  curve.context = context;
  std::set<int64_t> seen;
  const int per_decade = 8;
  const int count = static_cast<int>(std::ceil(std::log10(target_hi / target_lo) * per_decade));
  std::vector<std::pair<ParamCounts, double>> shapes;
  for (int i = 0; i <= count; ++i) {
    const double target = target_lo * std::pow(10.0, static_cast<double>(i) / per_decade);
    if (target < 1 || target > 9e15) continue;
    ModelShape shape;
    try {
      shape = ShapeForParams(static_cast<int64_t>(target), spec.vocab_size, spec.tied_embeddings,
                             spec.shape_rule);
    } catch (const UserError&) {
      continue;  // no shape within tolerance of this target under the rule; the next may have
    }
    const ParamCounts counts = CountParams(shape);
    if (!seen.insert(counts.total).second) continue;
    shapes.push_back({counts, FlopsPerToken(spec, shape, context)});
  }
  std::sort(shapes.begin(), shapes.end(),
            [](const auto& a, const auto& b) { return a.first.total < b.first.total; });
  // At toy sizes the rule's cost per token jumps by +-20 % between neighbouring shapes (the
  // output head costs 6 V d_model per token, and d_model does not grow smoothly with N). A
  // frontier priced on those jumps sticks at whichever shape is cheapest, so the curve is the
  // running geometric mean over 5 neighbouring shapes, made non-decreasing; `sims recommend`
  // prices the shape it proposes exactly.
  const size_t count_shapes = shapes.size();
  for (size_t i = 0; i < count_shapes; ++i) {
    const size_t lo = i >= 2 ? i - 2 : 0, hi = std::min(count_shapes - 1, i + 2);
    double log_sum = 0;
    for (size_t k = lo; k <= hi; ++k) log_sum += std::log(shapes[k].second);
    double smooth = std::exp(log_sum / static_cast<double>(hi - lo + 1));
    if (!curve.flops_per_token.empty()) smooth = std::max(smooth, curve.flops_per_token.back());
    curve.n_params.push_back(static_cast<double>(shapes[i].first.total));
    curve.n_params_non_embedding.push_back(static_cast<double>(shapes[i].first.non_embedding));
    curve.flops_per_token.push_back(smooth);
  }
  return curve;
}

SweepPlan PlanSweep(const SweepSpec& spec) {
  SweepPlan plan;
  plan.sweep = spec.name;
  plan.spec_toml = spec.source_toml;
  plan.flops = spec.flops;
  plan.n_includes_embedding = spec.n_includes_embedding;
  plan.planner_json = PlannerJson(spec);
  std::vector<PlannedRun> text_lms, dependents;
  std::set<std::string> text_lm_ids;
  for (const ConditionSpec& cond : spec.conditions) {
    for (PlannedRun& r : ConditionPlanner(spec, plan, text_lms, text_lm_ids).Plan(cond)) {
      dependents.push_back(std::move(r));
    }
  }
  // Conditions have distinct names, so ids are unique across the plan.
  plan.runs = std::move(text_lms);
  for (PlannedRun& r : dependents) plan.runs.push_back(std::move(r));
  return plan;
}

}  // namespace sims
