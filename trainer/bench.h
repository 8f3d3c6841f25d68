#pragma once
// Training throughput of the sims decoder, for `sims bench train` (torch-free header). Call
// BenchTrain with a shape, batch and context; it trains on uniformly random tokens (throughput
// does not depend on the data) with exactly TrainRun's step: AdamW, clip, bf16 autocast on CUDA.
#include <cstdint>
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

// Named benchmark shapes: "demo-<size>" for every size of the demo sweep's first condition (its
// shapes, vocabulary, context and micro-batch, taken from the parsed sweep so they cannot drift
// from the demo), and "gpt2-124m" (12 x 768, context 1024, vocab 50304, the GPU target).
// FindTrainBenchPreset throws UserError naming the preset if unknown.
struct TrainBenchPreset {
  std::string name;
  TrainBenchOptions options;
};
std::vector<TrainBenchPreset> TrainBenchPresets(const SweepSpec& demo);
TrainBenchPreset FindTrainBenchPreset(const SweepSpec& demo, const std::string& name);

}  // namespace sims
