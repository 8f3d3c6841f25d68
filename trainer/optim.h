#pragma once
// Optimisation of a sims run: AdamW with two parameter groups, and the learning-rate schedule
// (linear warmup, then cosine decay to a floor; slamkit's defaults live in Hyperparameters).
// Call MakeAdamW once per run, then SetLearningRate(optimizer, LearningRate(step, ...)) before
// every optimizer step.
#include <memory>

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
std::unique_ptr<torch::optim::AdamW> MakeAdamW(Decoder& model, const Hyperparameters& hp);

// Warmup steps: round(warmup_fraction * steps), at least 1 when warmup_fraction > 0.
int64_t WarmupSteps(int64_t steps, double warmup_fraction);

// Learning rate of optimizer step `step` (0-based, step < steps): lr * (step+1) / warmup during
// warmup, then lr_min + (lr - lr_min) * (1 + cos(pi * p)) / 2 with p going from 0 at the first
// post-warmup step to 1 at the last step, lr_min = lr * min_lr_ratio.
double LearningRate(int64_t step, int64_t steps, const Hyperparameters& hp);

void SetLearningRate(torch::optim::Optimizer& optimizer, double lr);

}  // namespace sims::trainer
