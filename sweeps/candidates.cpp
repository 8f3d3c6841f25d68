#include "sweeps/candidates.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/error.h"
#include "sweeps/parse.h"

namespace sims {
namespace {

void AddMidpointSizes(const SweepSpec& spec, DesignSpec& design) {
  std::vector<int64_t> targets;
  std::set<std::string> labels;
  std::vector<ModelShape> shapes;
  for (const SizeSpec& size : design.sizes) {
    if (size.target_non_embedding > 0) targets.push_back(size.target_non_embedding);
    labels.insert(size.label);
    shapes.push_back(size.shape);
  }
  std::sort(targets.begin(), targets.end());
  for (size_t i = 0; i + 1 < targets.size(); ++i) {
    SizeSpec mid;
    mid.target_non_embedding = std::llround(std::sqrt(static_cast<double>(targets[i]) *
                                                      static_cast<double>(targets[i + 1])));
    mid.label = HumanCount(mid.target_non_embedding);
    try {
      mid.shape = ShapeForParams(mid.target_non_embedding, spec.vocab_size, spec.tied_embeddings,
                                 spec.shape_rule);
    } catch (const UserError&) {
      continue;  // the rule builds no shape for this target: not a candidate
    }
    mid.origin = design.origin;
    if (labels.count(mid.label) ||
        std::find(shapes.begin(), shapes.end(), mid.shape) != shapes.end()) {
      continue;
    }
    labels.insert(mid.label);
    shapes.push_back(mid.shape);
    design.sizes.push_back(mid);
  }
}

void AddMidpointBudgets(DesignSpec& design) {
  std::vector<double> budgets = design.budgets;
  std::sort(budgets.begin(), budgets.end());
  if (budgets.empty()) return;
  for (size_t i = 0; i + 1 < budgets.size(); ++i) {
    design.budgets.push_back(std::sqrt(budgets[i] * budgets[i + 1]));
  }
  design.budgets.push_back(budgets.back() * std::sqrt(10.0));
}

}  // namespace

SweepSpec WithCandidatePoints(const SweepSpec& spec) {
  SweepSpec out = spec;
  for (ConditionSpec& condition : out.conditions) {
    AddMidpointSizes(spec, condition.design);
    if (condition.design.kind == DesignKind::kIsoflop) AddMidpointBudgets(condition.design);
  }
  return out;
}

}  // namespace sims
