#pragma once
// `sims run` as a function, for `sims demo --adaptive` too (orchestrator/cli/cmd_run.cpp): plan a
// sweep file (or take a sweep from the store), train what is not done on the local pool or
// Slurm, and with `adaptive` go on in rounds of suggested runs.
#include <string>
#include <vector>

#include "orchestrator/cli/cli.h"
#include "orchestrator/queue/pool.h"
#include "orchestrator/queue/slurm.h"

namespace sims {

struct RunOptions {
  std::string spec;              // sweep file to plan first; or
  std::string sweep;             // a sweep already in the database
  std::string corpus;            // replaces [sweep].corpus (as sims plan --corpus)
  std::string backend = "local"; // local | slurm
  bool retry_failed = false;     // bring failed runs of the sweep back to planned first
  bool watch = false;            // slurm: follow the jobs until every run is done or failed
  double watch_seconds = 2;      // slurm: how often --watch ingests (cheap: see benchmarks.md)
  PoolOptions pool;
  SlurmOptions slurm;
  bool adaptive = false;
  double until_spread = 0;  // percent: stop when N_opt's relative spread is below (0: no goal)
  double max_flops = 0;     // stop before the sweep's trained FLOPs would pass this (0: no cap)
  int adaptive_count = 4;   // runs per condition and round at most
  int adaptive_resamples = 100;
  std::vector<std::string> compare;  // two conditions: rounds for their multiplier's loss gap
};

// Returns the pool's summary (local) or the runs' state after submission/--watch (slurm). An
// interrupt (SIGINT/SIGTERM) is logged and counted in the summary, not thrown; failed runs on
// the local pool throw UserError naming how many.
PoolSummary RunRun(RunOptions o, const GlobalOptions& global);

}  // namespace sims
