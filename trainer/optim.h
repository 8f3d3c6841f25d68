#pragma once
// Optimisation of a sims run: AdamW with two parameter groups, and the learning-rate schedule
// (linear warmup, then cosine decay to a floor; slamkit's defaults live in Hyperparameters).
// Call MakeAdamW once per run, then SetLearningRate(optimizer, LearningRate(step, ...)) before
// every optimizer step.
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "sweeps/run_config.h"
#include "trainer/model.h"

namespace sims::trainer {

// AdamW moments and epsilon (Llama / nanoGPT values; beta2 = 0.95 is kinder to the short, noisy
// runs of a scaling sweep than PyTorch's 0.999).
inline constexpr double kAdamBeta1 = 0.9;
inline constexpr double kAdamBeta2 = 0.95;
inline constexpr double kAdamEps = 1e-8;

// Group 0 ("decay"): the 2-D projection weights (q/k/v/o, gate/up/down, an untied lm_head),
// with hp.weight_decay. Group 1 ("no decay"): norm weights, biases and the input embedding
// (tied or not), with weight decay 0 — decaying rarely-seen token rows toward zero hurts.
// `keep` (one flag per parameter in named_parameters order; empty = all): the parameters this
// optimizer updates, a ZeRO-1 rank's share (sweeps/memory.h ShardOwners).
std::unique_ptr<torch::optim::AdamW> MakeAdamW(Decoder& model, const Hyperparameters& hp,
                                               const std::vector<bool>& keep = {});

// One parameter's AdamW state, by name: what a checkpoint holds, whichever rank kept it.
struct AdamWSlot {
  std::string name;
  int64_t step = 0;  // 0: no state yet (the parameter was never stepped)
  torch::Tensor exp_avg, exp_avg_sq;
};
// A slot per parameter of `model`, in named_parameters order; parameters `optimizer` does not
// update (another rank's share) get step 0.
std::vector<AdamWSlot> ReadAdamW(torch::optim::AdamW& optimizer, Decoder& model);
// Sets the state of every parameter `optimizer` updates from the slot of the same name; throws
// UserError naming the parameter if the slot's moments have another shape.
void WriteAdamW(torch::optim::AdamW& optimizer, Decoder& model,
                const std::vector<AdamWSlot>& slots);

// Warmup steps: round(warmup_fraction * steps), at least 1 when warmup_fraction > 0.
int64_t WarmupSteps(int64_t steps, double warmup_fraction);

// Learning rate of optimizer step `step` (0-based, step < steps): lr * (step+1) / warmup during
// warmup, then lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2 with p going from 0 at the first
// post-warmup step to 1 at the last step, lr_min = lr * min_lr_ratio.
double LearningRate(int64_t step, int64_t steps, const Hyperparameters& hp);

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace sims::trainer
