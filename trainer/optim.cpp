#include "trainer/optim.h"

#include <cmath>
#include <map>
#include <numbers>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/error.h"
#include "trainer/torch_compat.h"

namespace sims::trainer {

std::unique_ptr<torch::optim::AdamW> MakeAdamW(Decoder& model, const Hyperparameters& hp,
                                               const std::vector<bool>& keep) {
  std::vector<torch::Tensor> decay, no_decay;
  size_t index = 0;
  for (const auto& item : model->named_parameters()) {
    if (!keep.empty() && !keep[index++]) continue;
    const std::string& name = item.key();
    const bool is_projection = item.value().dim() == 2 && name != "embed_tokens.weight";
    (is_projection ? decay : no_decay).push_back(item.value());
  }
  auto options = [&](double weight_decay) {
    return std::make_unique<torch::optim::AdamWOptions>(
        torch::optim::AdamWOptions(hp.lr)
            .betas({kAdamBeta1, kAdamBeta2})
            .eps(kAdamEps)
            .weight_decay(weight_decay));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(hp.weight_decay));
  groups.emplace_back(no_decay, options(0.0));
  return std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(hp.lr));
}

namespace {

std::set<const void*> UpdatedBy(torch::optim::AdamW& optimizer) {
  std::set<const void*> updated;
  for (auto& group : optimizer.param_groups()) {
    for (const torch::Tensor& p : group.params()) updated.insert(p.unsafeGetTensorImpl());
  }
  return updated;
}

}  // namespace

std::vector<AdamWSlot> ReadAdamW(torch::optim::AdamW& optimizer, Decoder& model) {
  const std::set<const void*> updated = UpdatedBy(optimizer);
  std::vector<AdamWSlot> slots;
  for (const auto& item : model->named_parameters()) {
    AdamWSlot slot{item.key()};
    if (updated.count(item.value().unsafeGetTensorImpl())) {
      auto found = optimizer.state().find(OptimizerStateKey(optimizer, item.value()));
      if (found != optimizer.state().end()) {
        auto& state = static_cast<torch::optim::AdamWParamState&>(*found->second);
        slot.step = state.step();
        slot.exp_avg = state.exp_avg();
        slot.exp_avg_sq = state.exp_avg_sq();
      }
    }
    slots.push_back(std::move(slot));
  }
  return slots;
}

void WriteAdamW(torch::optim::AdamW& optimizer, Decoder& model,
                const std::vector<AdamWSlot>& slots) {
  const std::set<const void*> updated = UpdatedBy(optimizer);
  std::map<std::string, const AdamWSlot*> by_name;
  for (const AdamWSlot& slot : slots) by_name[slot.name] = &slot;
  for (const auto& item : model->named_parameters()) {
    const torch::Tensor& p = item.value();
    auto found = by_name.find(item.key());
    if (!updated.count(p.unsafeGetTensorImpl()) || found == by_name.end() ||
        found->second->step == 0) {
      continue;
    }
    const AdamWSlot& slot = *found->second;
    if (slot.exp_avg.sizes() != p.sizes() || slot.exp_avg_sq.sizes() != p.sizes()) {
      throw UserError(fmt::format("optimizer state of {} has shape [{}], the parameter [{}]",
                                  item.key(), fmt::join(slot.exp_avg.sizes().vec(), ", "),
                                  fmt::join(p.sizes().vec(), ", ")));
    }
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(slot.step);
    state->exp_avg(slot.exp_avg.to(p.device(), p.scalar_type()).clone());
    state->exp_avg_sq(slot.exp_avg_sq.to(p.device(), p.scalar_type()).clone());
    optimizer.state()[OptimizerStateKey(optimizer, p)] = std::move(state);
  }
}

int64_t WarmupSteps(int64_t steps, double warmup_fraction) {
  if (warmup_fraction <= 0) return 0;
  return std::max<int64_t>(1, std::llround(warmup_fraction * static_cast<double>(steps)));
}

double LearningRate(int64_t step, int64_t steps, const Hyperparameters& hp) {
  const int64_t warmup = WarmupSteps(steps, hp.warmup_fraction);
  if (step < warmup) return hp.lr * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double lr_min = hp.lr * hp.min_lr_ratio;
  const int64_t decay_steps = steps - 1 - warmup;
  const double p =
      decay_steps <= 0 ? 1.0 : static_cast<double>(step - warmup) / static_cast<double>(decay_steps);
  return lr_min + (hp.lr - lr_min) * 0.5 * (1.0 + std::cos(std::numbers::pi * std::min(p, 1.0)));
}

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
  }
}

}  // namespace sims::trainer
