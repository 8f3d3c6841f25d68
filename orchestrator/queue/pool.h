#pragma once
// The local worker pool behind `sims run`: keeps N `sims worker --loop` child processes busy
// on one sweep until no run is planned or running, and is the housekeeper of the queue while it
// does (RequeueExpired, FailOrphans). Call RunPool after the sweep is planned into the store.
//
// Workers are separate processes (fork/exec of the sims binary) in their own process group, so
// a terminal's Ctrl-C reaches only the pool, which then decides:
//   first interrupt  -> SIGTERM to every worker: each checkpoints and releases its run
//   second interrupt -> SIGKILL to every worker, then their runs are released here
// Either way every run ends planned, done or failed, never running without a worker.
// Workers also get SIGTERM if the pool itself dies (PR_SET_PDEATHSIG).
#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "results/store.h"

namespace sims {

struct PoolOptions {
  std::string db = "sims.db";
  std::string sweep;            // required: the pool drives one sweep
  int workers = 1;              // concurrent worker processes
  std::string exe;              // the sims binary; empty = /proc/self/exe
  std::string device = "cpu";   // passed to every worker
  int threads = 1;              // per worker
  double lease_seconds = 60;    // passed to workers; expired leases are requeued by the pool
  double heartbeat_seconds = 5;
  int max_attempts = 3;         // a run whose lease expired this often is failed
  double tick_seconds = 0.5;    // how often the pool looks at the queue and its children
  std::string worker_log_level = "warn";  // keeps the progress view readable
  bool progress = true;         // live view on stderr
};

void ValidatePoolOptions(const PoolOptions& options);

struct PoolSummary {
  int done = 0;
  int failed = 0;
  int planned = 0;
  int running = 0;
  int interrupts = 0;  // 0: ran to the end
};

// `interrupts` counts SIGINT/SIGTERM received by the caller's handler.
PoolSummary RunPool(const PoolOptions& options, const std::atomic<int>& interrupts);

// Progress of a sweep from its rows: what the live view shows.
struct SweepProgress {
  int done = 0, running = 0, failed = 0, planned = 0;
  double flops_total = 0;
  double flops_done = 0;  // done runs in full, running runs by step/steps
  double flops_failed = 0;  // not part of the remaining work
  std::map<std::string, std::pair<int, int>> by_condition;  // condition -> (done, total)
};
SweepProgress ComputeProgress(const std::vector<RunRow>& runs);
// One line: counts, per-condition completion, FLOPs done/total, ETA (if rate > 0 flops/s).
std::string FormatProgress(const SweepProgress& progress, double flops_per_second);

}  // namespace sims
