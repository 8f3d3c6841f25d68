#include "trainer/bench.h"

#include <time.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "common/error.h"
#include "sweeps/shape.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"
#include "trainer/train.h"
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

namespace {

// A train/text shard of random tokens (throughput does not depend on the data), with a
// vocabulary that fits the shape's.
void WriteRandomCorpus(const std::string& dir, int32_t vocab_size, int64_t tokens) {
  std::vector<std::string> text;
  for (int i = 0; i < 64; ++i) text.push_back(fmt::format("t{}", i));
  const corpus::Vocabulary vocab = corpus::MakeSyntheticVocabulary(text, 64, vocab_size);
  if (vocab.vocab_size > vocab_size) {
    throw UserError(fmt::format("bench train: vocab_size {} is below the {} the bench corpus needs",
                                vocab_size, vocab.vocab_size));
  }
  std::filesystem::create_directories(std::filesystem::path(dir) / "train");
  corpus::SaveVocabulary(vocab, dir);
  corpus::ShardWriter writer(corpus::StreamShardPath(dir, "train", "text"), vocab.hash,
                             vocab.vocab_size);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(vocab.Text(0), vocab.Text(vocab.text_count - 1));
  std::vector<int32_t> document(4096);
  for (int64_t written = 0; written < tokens; written += static_cast<int64_t>(document.size())) {
    for (int32_t& t : document) t = token(rng);
    writer.AddDocument(document);
  }
  writer.Finish();
}

}  // namespace

std::vector<RanksBenchResult> BenchTrainRanks(
    const TrainBenchOptions& o, const std::vector<int64_t>& ranks_list, const std::string& work_dir,
    const std::function<void(int64_t ranks, int port)>& start_peers) {
  if (o.batch <= 0 || o.context <= 0 || o.steps <= 0 || ranks_list.empty()) {
    throw UserError("bench train: batch, context, steps and ranks must be positive");
  }
  const int64_t most = *std::max_element(ranks_list.begin(), ranks_list.end());
  if (o.batch % most != 0) {
    throw UserError(fmt::format("bench train: a batch of {} sequences cannot be split across {} "
                                "ranks", o.batch, most));
  }
  const std::string corpus_dir = (std::filesystem::path(work_dir) / "corpus").string();
  WriteRandomCorpus(corpus_dir, static_cast<int32_t>(o.shape.vocab_size), 1 << 20);
  RunConfig config;
  config.sweep = "bench";
  config.condition = "ranks";
  config.seed = 1;
  config.shape = o.shape;
  config.mixture = {.text = 1, .speech = 0, .interleaved = 0};
  config.hp.context = o.context;
  config.hp.batch_tokens = o.batch * o.context;
  config.hp.micro_batch_tokens = config.hp.batch_tokens / most;
  config.hp.eval_pairs = 0;
  config.steps = o.warmup_steps + o.steps;
  config.tokens = config.steps * config.hp.batch_tokens;
  config.corpus = corpus_dir;
  std::vector<RanksBenchResult> results;
  for (int64_t ranks : ranks_list) {
    config.hp.ranks = ranks;
    TrainEnvironment env;
    env.run_dir = (std::filesystem::path(work_dir) / fmt::format("ranks-{}", ranks)).string();
    env.corpus_dir = corpus_dir;
    env.device = o.device;
    env.threads = o.threads;
    env.checkpoint_every = config.steps + 1;  // none: the benchmark times training steps only
    std::vector<double> step_rates;
    RanksBenchResult result;
    result.ranks = ranks;
    TrainHooks hooks;
    hooks.emit = [&](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>&) {
      for (const MetricRow& m : metrics) {
        if (m.name == "train/tokens_per_sec" && m.step > o.warmup_steps)
          step_rates.push_back(m.value);
        if (m.name == "train/optimizer_bytes") result.optimizer_bytes = m.value;
      }
    };
    hooks.start_peers = [&](int port) { start_peers(ranks, port); };
    TrainRun(fmt::format("bench-ranks-{}", ranks), config, env, hooks);
    std::nth_element(step_rates.begin(), step_rates.begin() + step_rates.size() / 2,
                     step_rates.end());
    result.tokens_per_sec = step_rates[step_rates.size() / 2];
    trainer::DecoderOptions model_options;
    model_options.shape = o.shape;
    result.n_params =
        trainer::CountParameters(*trainer::MakeDecoder(model_options, 1, torch::kCPU));
    results.push_back(result);
  }
  return results;
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
  TrainBenchOptions width;  // ~10M parameters: where data parallelism starts to pay on CPUs
  width.shape = {.layers = 6, .d_model = 384, .heads = 6, .kv_heads = 6, .d_ff = 1024,
                 .vocab_size = 1024, .tied_embeddings = true, .qkv_bias = false};
  width.batch = 8;
  width.context = 256;
  width.steps = 10;
  presets.push_back({"width-10m", width});
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
