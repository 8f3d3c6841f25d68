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
#include <atomic>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "results/store.h"
#include "sweeps/run_config.h"

namespace sims {

// Where this process sits in a run trained by config.hp.ranks processes (trainer/distributed.h).
// Rank 0 is the worker that claimed the run: it serves the rendezvous store, writes every
// metric, evaluation and checkpoint. The other ranks only train their share of each batch.
struct DistributedSpec {
  int rank = 0;
  int local_rank = 0;  // this rank's index on its machine: which GPU it takes on CUDA
  std::string store_host = "127.0.0.1";  // where rank 0 serves the store
  int store_port = 0;  // rank 0: 0 = any free port (TrainHooks::start_peers learns which)
  bool peers_started_elsewhere = false;  // Slurm: srun started every rank, so rank 0 waits
};

struct TrainEnvironment {
  std::string run_dir;          // this run's directory: checkpoints, final weights
  std::string corpus_dir;       // absolute corpus directory (the config's corpus, resolved)
  std::string init_weights;     // for init.kind == "text-lm": FinalWeightsPath of that run
  std::string device = "cpu";   // cpu | cuda | auto
  int threads = 1;              // intra-op threads; results are reproducible per thread count
  int keep_checkpoints = 2;     // older checkpoints are deleted after a new one is renamed in
  int64_t checkpoint_every = 0; // steps between checkpoints; 0 = at every evaluation
  DistributedSpec distributed;  // used when config.hp.ranks > 1
};

struct TrainHooks {
  std::function<void(const std::vector<MetricRow>&, const std::vector<EvalRow>&)> emit;
  std::function<void(int64_t step)> progress;  // after every optimizer step
  std::function<bool()> stop_requested;        // graceful stop: checkpoint and return
  // Rank 0 of a multi-rank run, once its store listens on `port`: start ranks 1..ranks-1 (each
  // runs TrainPeer). Not called when env.distributed.peers_started_elsewhere.
  std::function<void(int port)> start_peers;
};

// Thrown by TrainRun on rank 0 when another rank of the run vanished without reporting an
// error (killed, its node lost): the attempt is lost, not the run's fault, so the worker
// requeues it and the next attempt resumes from the last checkpoint.
struct RankLost : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class TrainOutcome { kFinished, kStopped };

TrainOutcome TrainRun(const std::string& run_id, const RunConfig& config,
                      const TrainEnvironment& env, const TrainHooks& hooks);

// Ranks 1..ranks-1 of a multi-rank run: connect to rank 0's store at spec.store_host:port, read
// the run, its config and environment from it, and train this rank's share until the run ends
// or `stop` is set (the ranks agree on stopping every step). An error is posted to the store
// for rank 0 to report, then rethrown.
void TrainPeer(const DistributedSpec& spec, const std::atomic<bool>& stop);

// Where a finished run leaves its weights (read by runs that start from it).
std::string FinalWeightsPath(const std::string& run_dir);

}  // namespace sims
