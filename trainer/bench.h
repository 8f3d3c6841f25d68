#pragma once
// Training throughput of the sims decoder, for `sims bench train` (torch-free header). Call
// BenchTrain with a shape, batch and context; it trains on uniformly random tokens (throughput
// does not depend on the data) with exactly TrainRun's step: AdamW, clip, bf16 autocast on CUDA.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sweeps/plan.h"
#include "sweeps/run_config.h"

namespace sims {

struct TrainBenchOptions {
  ModelShape shape;
  int64_t batch = 8;          // sequences per optimizer step (one micro-batch)
  int64_t context = 128;
  int64_t warmup_steps = 3;   // untimed: allocator, thread pool and autotuning warm up
  int64_t steps = 20;         // timed steps (at least this many ...)
  double min_seconds = 2.0;   // ... and at least this long, so tiny models are timed well
  std::string device = "cpu"; // cpu | cuda | auto
  int threads = 1;
};

struct TrainBenchResult {
  std::string device;  // "cpu" or "cuda"
  int64_t steps = 0;   // timed steps
  double seconds = 0;
  double tokens_per_sec = 0;
  double cpu_seconds = 0;          // CPU time of this process over the timed steps
  double tokens_per_cpu_sec = 0;   // robust on a shared machine, where wall time is not
  double flops_per_sec = 0;  // TrainingFlopsExact (sweeps/shape.h) per second
  int64_t n_params = 0;
};

// Throws UserError for a bad shape or device.
TrainBenchResult BenchTrain(const TrainBenchOptions& options);

// Data-parallel scaling (`sims bench train --ranks R`): the real TrainRun on a corpus of
// uniformly random tokens written under `work_dir`, once per entry of `ranks` with the same
// global batch (options.batch sequences, split into max(ranks) micro-batches so every entry
// divides it). `start_peers(ranks, port)` starts ranks 1.. (the CLI starts `sims worker --peer`).
// Throughput is the median of the per-step train/tokens_per_sec after options.warmup_steps.
struct RanksBenchResult {
  int64_t ranks = 1;
  double tokens_per_sec = 0;
  double optimizer_bytes = 0;  // the fullest rank's AdamW moments (train/optimizer_bytes)
  int64_t n_params = 0;
};
std::vector<RanksBenchResult> BenchTrainRanks(
    const TrainBenchOptions& options, const std::vector<int64_t>& ranks,
    const std::string& work_dir, const std::function<void(int64_t ranks, int port)>& start_peers);

// Named benchmark shapes: "demo-<size>" for every size of the demo sweep's first condition (its
// shapes, vocabulary, context and micro-batch, taken from the parsed sweep so they cannot drift
// from the demo), "width-10m" (a ~10M-parameter shape for the data-parallel benchmark) and
// "gpt2-124m" (12 x 768, context 1024, vocab 50304, the GPU target).
// FindTrainBenchPreset throws UserError naming the preset if unknown.
struct TrainBenchPreset {
  std::string name;
  TrainBenchOptions options;
};
std::vector<TrainBenchPreset> TrainBenchPresets(const SweepSpec& demo);
TrainBenchPreset FindTrainBenchPreset(const SweepSpec& demo, const std::string& name);

}  // namespace sims
