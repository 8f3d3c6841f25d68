// TrainRun: one planned run, top to bottom in one function, so the order of a step is visible
// in one place. The loop per optimizer step:
//   set lr -> forward/backward over the micro-batches -> non-finite guard -> clip -> step ->
//   log -> evaluate (every eval_every steps and at the end) -> checkpoint -> stop check.
#include "trainer/train.h"

#include <chrono>
#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "trainer/checkpoint.h"
#include "trainer/corpus/vocab.h"
#include "trainer/data.h"
#include "trainer/hf_model.h"
#include "trainer/model.h"
#include "trainer/optim.h"
#include "trainer/scoring.h"
#include "trainer/torch_compat.h"

namespace sims {
namespace {
using namespace sims::trainer;

// Validation: at most this many tokens per stream (the same windows at every evaluation).
constexpr int64_t kValidationTokens = 16384;
// Rows of an evaluation forward pass.
constexpr int64_t kEvalBatchRows = 16;

torch::Device ResolveDevice(const std::string& device) {
  if (device == "cpu") return torch::kCPU;
  if (device == "cuda") {
    if (!torch::cuda::is_available()) {
      // Two different fixes: a CPU-only LibTorch needs another build, a CUDA one a visible GPU.
      throw UserError(std::string("--device cuda: no CUDA device is visible (") +
                      (at::hasCUDA() ? "this LibTorch has CUDA; CUDA_VISIBLE_DEVICES or the "
                                       "driver hides every GPU"
                                     : "this LibTorch build is CPU-only") +
                      "); hint: use --device cpu or auto");
    }
    return torch::kCUDA;
  }
  if (device == "auto") return torch::cuda::is_available() ? torch::kCUDA : torch::kCPU;
  throw UserError(fmt::format("device '{}' is not cpu, cuda or auto", device));
}

struct RunContext {
  const std::string& run_id;
  const RunConfig& config;
  const TrainHooks& hooks;
  torch::Device device;
  bool autocast;
};

MetricRow Metric(const RunContext& rc, int64_t step, int64_t tokens, const std::string& name,
                 double value) {
  return MetricRow{rc.run_id, step, tokens, name, value};
}

// Validation losses per stream and pair accuracies of every pair set the corpus has.
void Evaluate(const RunContext& rc, Decoder& model, const std::vector<ValidationSet>& validation,
              const corpus::Vocabulary& vocab, const std::vector<corpus::PairSet>& pair_sets,
              int64_t step, int64_t tokens) {
  torch::NoGradGuard no_grad;
  const auto started = std::chrono::steady_clock::now();
  model->eval();
  std::vector<MetricRow> metrics;
  for (const ValidationSet& set : validation) {
    double loss_sum = 0;
    const int64_t n = set.windows.size(0);
    for (int64_t first = 0; first < n; first += kEvalBatchRows) {
      const int64_t rows = std::min(kEvalBatchRows, n - first);
      AutocastBf16 autocast(rc.autocast);
      torch::Tensor loss = NextTokenLoss(model, set.windows.narrow(0, first, rows).to(rc.device));
      loss_sum += loss.item<double>() * static_cast<double>(rows);
    }
    metrics.push_back(Metric(rc, step, tokens, "val/loss/" + set.stream, loss_sum / n));
  }
  std::vector<EvalRow> evals;
  ScoringOptions scoring;
  scoring.batch = kEvalBatchRows;
  scoring.max_tokens = rc.config.hp.context;
  scoring.mean = rc.config.hp.eval_score == EvalScore::kMean;
  for (const corpus::PairSet& set : pair_sets) {
    AutocastBf16 autocast(rc.autocast);
    PairAccuracy accuracy = ScorePairs(model, vocab, set, scoring);
    evals.push_back(EvalRow{rc.run_id, step, set.task, accuracy.accuracy, accuracy.n_pairs});
    // Speech continuations (".../speech", ".../text2speech") also scored over units only.
    if (rc.config.hp.eval_unit_only && set.task.ends_with("speech")) {
      ScoringOptions units = scoring;
      units.unit_only = true;
      accuracy = ScorePairs(model, vocab, set, units);
      evals.push_back(
          EvalRow{rc.run_id, step, set.task + "/unit-only", accuracy.accuracy, accuracy.n_pairs});
    }
  }
  model->train();
  Log(LogLevel::kDebug, "run {}: evaluation at step {} took {:.2f} s", rc.run_id, step,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (rc.hooks.emit) rc.hooks.emit(metrics, evals);
}

// The first `max_pairs` pairs of each task the corpus has (0 = all). The default 200 keeps the
// standard error of an accuracy <= 0.035; measured on the demo corpus, 10 tasks x 500 pairs took
// ~80 % of a 16-step demo run's CPU time (~3.5 of 4.3 s) and 200 pairs cut that 2.5x.
std::vector<corpus::PairSet> LoadPairSets(const std::string& corpus_dir, int64_t max_pairs) {
  std::vector<corpus::PairSet> sets;
  for (const std::string& task : corpus::PairTasks()) {
    if (!std::filesystem::exists(std::filesystem::path(corpus_dir) /
                                 corpus::PairSetRelativePath(task))) {
      continue;  // a corpus may carry only some tasks (e.g. a text-only import)
    }
    corpus::PairSet set = corpus::LoadPairSet(corpus_dir, task);
    if (max_pairs > 0 && set.pairs.size() > static_cast<size_t>(max_pairs)) {
      set.pairs.resize(static_cast<size_t>(max_pairs));
    }
    sets.push_back(std::move(set));
  }
  return sets;
}

TrainOutcome Train(const std::string& run_id, const RunConfig& config, const TrainEnvironment& env,
                   const TrainHooks& hooks) {
  Validate(config, "run " + run_id);
  const Hyperparameters& hp = config.hp;
  SetComputeThreads(env.threads);
  const torch::Device device = ResolveDevice(env.device);
  Log(LogLevel::kInfo, "run {}: training on {} ({})", run_id, device.str(),
      device.is_cuda() && hp.dtype != Dtype::kFp32 ? "bf16 autocast" : "fp32");
  const bool autocast = device.is_cuda() && hp.dtype != Dtype::kFp32;
  RunContext rc{run_id, config, hooks, device, autocast};

  const corpus::Vocabulary vocab = corpus::LoadVocabulary(env.corpus_dir);
  if (vocab.vocab_size > config.shape.vocab_size) {
    throw UserError(fmt::format("run {}: corpus {} has vocab_size {} but the model's is {}; "
                                "hint: set vocab_size in the sweep file to at least {}",
                                run_id, env.corpus_dir, vocab.vocab_size, config.shape.vocab_size,
                                vocab.vocab_size));
  }
  MixtureSampler sampler(env.corpus_dir, vocab.hash, config.mixture, hp.context, config.seed);
  const std::vector<ValidationSet> validation = LoadValidationSets(
      env.corpus_dir, vocab.hash, hp.context, std::max<int64_t>(1, kValidationTokens / hp.context));
  const std::vector<corpus::PairSet> pair_sets = LoadPairSets(env.corpus_dir, config.hp.eval_pairs);

  DecoderOptions model_options;
  model_options.shape = config.shape;
  if (config.init.kind == InitKind::kCheckpoint) {  // its rope and epsilon; its shape, checked
    model_options = hf::CheckpointRunOptions(run_id, config.init.checkpoint_path, config.shape);
  }
  Decoder model = MakeDecoder(model_options, config.seed, device);
  auto optimizer = MakeAdamW(model, hp);

  TrainState state;
  if (auto checkpoint = NewestCheckpoint(env.run_dir)) {
    state = LoadCheckpoint(*checkpoint, run_id, model, *optimizer);
    Log(LogLevel::kInfo, "run {}: resuming at step {} from {}", run_id, state.step, *checkpoint);
  } else if (config.init.kind == InitKind::kTextLm) {
    LoadWeights(env.init_weights, model);  // unit and marker rows included: see checkpoint.h
  } else if (config.init.kind == InitKind::kCheckpoint) {  // a Hugging Face directory (trainer/hf)
    hf::InitFromCheckpoint(config.init.checkpoint_path, vocab, *model, config.seed);
  }  // scratch: the model as built

  const int64_t rows_per_micro = hp.micro_batch_tokens / hp.context;
  const int64_t micro_steps = hp.batch_tokens / hp.micro_batch_tokens;
  std::vector<torch::Tensor> parameters = model->parameters();
  int64_t last_checkpoint = state.step;
  model->train();
  while (state.step < config.steps) {
    const auto started = std::chrono::steady_clock::now();
    const double lr = LearningRate(state.step, config.steps, hp);
    SetLearningRate(*optimizer, lr);

    optimizer->zero_grad();
    double loss_sum = 0;
    for (int64_t micro = 0; micro < micro_steps; ++micro) {
      torch::Tensor batch = sampler.Batch(state.samples, rows_per_micro).to(device);
      state.samples += rows_per_micro;
      torch::Tensor loss;
      {
        AutocastBf16 guard(autocast);
        loss = NextTokenLoss(model, batch) / static_cast<double>(micro_steps);
      }
      loss.backward();
      loss_sum += loss.item<double>();
    }
    if (!std::isfinite(loss_sum)) {
      throw std::runtime_error(fmt::format(
          "run {}: step {}: training loss is {} (non-finite); hint: lower hp.lr or hp.clip",
          run_id, state.step + 1, loss_sum));
    }
    const double grad_norm =
        torch::nn::utils::clip_grad_norm_(parameters, hp.clip > 0 ? hp.clip : 1e30);
    optimizer->step();
    state.step += 1;
    state.tokens += hp.batch_tokens;

    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (hooks.emit) {
      hooks.emit({Metric(rc, state.step, state.tokens, "train/loss", loss_sum),
                  Metric(rc, state.step, state.tokens, "train/lr", lr),
                  Metric(rc, state.step, state.tokens, "train/grad_norm", grad_norm),
                  Metric(rc, state.step, state.tokens, "train/tokens_per_sec",
                         static_cast<double>(hp.batch_tokens) / std::max(seconds, 1e-9)),
                  Metric(rc, state.step, state.tokens, "train/tokens",
                         static_cast<double>(state.tokens))},
                 {});
    }
    if (hooks.progress) hooks.progress(state.step);

    const bool last = state.step == config.steps;
    const bool evaluate = last || (hp.eval_every > 0 && state.step % hp.eval_every == 0);
    if (evaluate) Evaluate(rc, model, validation, vocab, pair_sets, state.step, state.tokens);
    const bool checkpoint = env.checkpoint_every > 0 ? state.step % env.checkpoint_every == 0
                                                     : evaluate;
    if (checkpoint) {
      SaveCheckpoint(env.run_dir, run_id, state, model, *optimizer, env.keep_checkpoints);
      last_checkpoint = state.step;
    }
    if (!last && hooks.stop_requested && hooks.stop_requested()) {
      if (last_checkpoint != state.step) {
        SaveCheckpoint(env.run_dir, run_id, state, model, *optimizer, env.keep_checkpoints);
      }
      Log(LogLevel::kInfo, "run {}: stopped at step {} (checkpoint written)", run_id, state.step);
      return TrainOutcome::kStopped;
    }
  }
  if (state.tokens != config.tokens) {
    throw std::runtime_error(fmt::format("run {}: consumed {} training tokens, planned {}",
                                         run_id, state.tokens, config.tokens));
  }
  SaveWeights(FinalWeightsPath(env.run_dir), run_id, model);
  return TrainOutcome::kFinished;
}

}  // namespace

std::string FinalWeightsPath(const std::string& run_dir) {
  return (std::filesystem::path(run_dir) / "final.pt").string();
}

TrainOutcome TrainRun(const std::string& run_id, const RunConfig& config,
                      const TrainEnvironment& env, const TrainHooks& hooks) {
  try {
    return Train(run_id, config, env, hooks);
  } catch (const c10::Error& e) {
    // LibTorch errors (out of memory, a shape mismatch) carry a backtrace; keep the first line
    // and name the run, as the worker stores the message as the run's error.
    std::string message = e.what_without_backtrace();
    throw std::runtime_error(fmt::format("run {}: {}", run_id, message.substr(0, message.find('\n'))));
  }
}

}  // namespace sims
