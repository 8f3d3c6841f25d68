#pragma once
// Train one planned run. This header is torch-free on purpose: the worker and the CLI include
// it without paying for <torch/torch.h>. Call TrainRun; everything else is inside trainer/.
//
// Contract with the caller (the `sims worker` command):
//   - TrainRun resumes from the newest checkpoint in env.run_dir if there is one, else starts
//     from the init the config names (scratch, the text-LM run's final weights, a checkpoint).
//   - It reports every metric/eval through hooks.emit as it is produced, keyed (run, step, name),
//     so a resumed run re-emitting a step is harmless (the store ignores duplicates).
//   - It calls hooks.stop_requested() every step; when true it writes a checkpoint and returns
//     kStopped. On success it writes FinalWeightsPath(run_dir) and returns kFinished.
//   - Failures (NaN loss, missing shard, out of memory, bad config) throw with a message that
//     names the run, the step and the cause; the caller marks the run failed with it.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "results/store.h"
#include "sweeps/run_config.h"

namespace sims {

struct TrainEnvironment {
  std::string run_dir;          // this run's directory: checkpoints, final weights
  std::string corpus_dir;       // absolute corpus directory (the config's corpus, resolved)
  std::string init_weights;     // for init.kind == "text-lm": FinalWeightsPath of that run
  std::string device = "cpu";   // cpu | cuda | auto
  int threads = 1;              // intra-op threads; results are reproducible per thread count
  int keep_checkpoints = 2;     // older checkpoints are deleted after a new one is renamed in
  int64_t checkpoint_every = 0; // steps between checkpoints; 0 = at every evaluation
};

struct TrainHooks {
  std::function<void(const std::vector<MetricRow>&, const std::vector<EvalRow>&)> emit;
  std::function<void(int64_t step)> progress;  // after every optimizer step
  std::function<bool()> stop_requested;        // graceful stop: checkpoint and return
};

enum class TrainOutcome { kFinished, kStopped };

TrainOutcome TrainRun(const std::string& run_id, const RunConfig& config,
                      const TrainEnvironment& env, const TrainHooks& hooks);

// Where a finished run leaves its weights (read by runs that start from it).
std::string FinalWeightsPath(const std::string& run_dir);

}  // namespace sims
