#include "trainer/bench.h"

#include <time.h>

#include <chrono>

#include <fmt/format.h>

#include "common/error.h"
#include "sweeps/shape.h"
#include "trainer/model.h"
#include "trainer/optim.h"
#include "trainer/torch_compat.h"

namespace sims {

TrainBenchResult BenchTrain(const TrainBenchOptions& o) {
  if (o.batch <= 0 || o.context <= 0 || o.steps <= 0) {
    throw UserError("bench train: batch, context and steps must be positive");
  }
  trainer::SetComputeThreads(o.threads);
  torch::Device device = torch::kCPU;
  if (o.device == "cuda" || (o.device == "auto" && torch::cuda::is_available())) {
    if (!torch::cuda::is_available()) throw UserError("bench train: --device cuda: no CUDA device");
    device = torch::kCUDA;
  } else if (o.device != "cpu" && o.device != "auto") {
    throw UserError(fmt::format("bench train: device '{}' is not cpu, cuda or auto", o.device));
  }
  trainer::DecoderOptions model_options;
  model_options.shape = o.shape;
  trainer::Decoder model = trainer::MakeDecoder(model_options, 1, device);
  Hyperparameters hp;
  auto optimizer = trainer::MakeAdamW(model, hp);
  std::vector<torch::Tensor> parameters = model->parameters();
  const bool autocast = device.is_cuda();
  torch::manual_seed(0);
  torch::Tensor batch =
      torch::randint(0, o.shape.vocab_size, {o.batch, o.context + 1}, torch::kInt64).to(device);

  // The step of TrainRun's loop: lr, forward under autocast, backward, clip, AdamW.
  auto step = [&] {
    trainer::SetLearningRate(*optimizer, hp.lr);
    optimizer->zero_grad();
    torch::Tensor loss;
    {
      trainer::AutocastBf16 guard(autocast);
      loss = trainer::NextTokenLoss(model, batch);
    }
    loss.backward();
    torch::nn::utils::clip_grad_norm_(parameters, hp.clip);
    optimizer->step();
    return loss.item<double>();  // synchronises, as TrainRun's logging does
  };
  auto cpu_now = [] {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
  };
  for (int64_t i = 0; i < o.warmup_steps; ++i) step();
  const double cpu_start = cpu_now();
  const auto start = std::chrono::steady_clock::now();
  TrainBenchResult result;
  double seconds = 0;
  while (result.steps < o.steps || seconds < o.min_seconds) {
    step();
    result.steps += 1;
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  const double tokens = static_cast<double>(result.steps * o.batch * o.context);
  result.device = device.is_cuda() ? "cuda" : "cpu";
  result.seconds = seconds;
  result.tokens_per_sec = tokens / seconds;
  result.cpu_seconds = cpu_now() - cpu_start;
  result.tokens_per_cpu_sec = tokens / result.cpu_seconds;
  result.flops_per_sec =
      TrainingFlopsExact(o.shape, o.context, static_cast<int64_t>(tokens)) / seconds;
  result.n_params = trainer::CountParameters(*model);
  return result;
}

std::vector<TrainBenchPreset> TrainBenchPresets(const SweepSpec& demo) {
  if (demo.conditions.empty()) throw UserError("bench train: the demo sweep has no condition");
  const ConditionSpec& condition = demo.conditions.front();
  std::vector<TrainBenchPreset> presets;
  for (const SizeSpec& size : condition.design.sizes) {
    TrainBenchOptions o;
    o.shape = size.shape;
    o.context = condition.hp.context;
    o.batch = condition.hp.micro_batch_tokens / condition.hp.context;  // one micro-batch a step
    presets.push_back({"demo-" + size.label, o});
  }
  TrainBenchOptions gpt2;  // llm.c's GPT-2 124M size as a Llama: 12 x 768, SwiGLU 2048
  gpt2.shape = {.layers = 12, .d_model = 768, .heads = 12, .kv_heads = 12, .d_ff = 2048,
                .vocab_size = 50304, .tied_embeddings = true, .qkv_bias = false};
  gpt2.batch = 16;
  gpt2.context = 1024;
  gpt2.steps = 10;
  gpt2.device = "auto";
  presets.push_back({"gpt2-124m", gpt2});
  return presets;
}

TrainBenchPreset FindTrainBenchPreset(const SweepSpec& demo, const std::string& name) {
  std::string known;
  for (const TrainBenchPreset& p : TrainBenchPresets(demo)) {
    if (p.name == name) return p;
    known += (known.empty() ? "" : ", ") + p.name;
  }
  throw UserError(fmt::format("bench train: unknown preset '{}' (known: {})", name, known));
}

}  // namespace sims
