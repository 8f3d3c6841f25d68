#include "trainer/optim.h"

#include <cmath>
#include <numbers>

namespace sims::trainer {

std::unique_ptr<torch::optim::AdamW> MakeAdamW(Decoder& model, const Hyperparameters& hp) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model->named_parameters()) {
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
