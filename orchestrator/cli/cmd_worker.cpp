// sims worker: claim runs from the database and train them (or, on Slurm, one run reporting to
// its events file). `sims run` starts these as child processes; a cluster job runs one directly.
#include <csignal>

#include <unistd.h>

#include "common/log.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/queue/worker.h"
#include "trainer/train.h"

namespace sims {
namespace {

// Set from the signal handler; lock-free atomics are async-signal-safe.
std::atomic<bool> g_stop{false};

extern "C" void OnStopSignal(int) {
  // First signal: stop gracefully (checkpoint, release). Second: leave at once; the lease
  // expires or the pool releases the run.
  if (g_stop.exchange(true)) ::_exit(130);
}

}  // namespace

void SetupWorkerCommand(CLI::App* cmd, GlobalOptions& global) {
  auto options = std::make_shared<WorkerOptions>();
  auto once = std::make_shared<bool>(false);
  cmd->add_option("--run", options->run_id, "Train only this run id")
      ->check(NameCheck(NameKind::kRun));
  auto* once_flag = cmd->add_flag("--once", *once, "Train one claimable run, then exit (default)");
  cmd->add_flag("--loop", options->loop, "Keep claiming runs until none is left")
      ->excludes(once_flag);
  cmd->add_option("--sweep", options->sweep, "Claim only runs of this sweep")
      ->check(NameCheck(NameKind::kSweep));
  cmd->add_option("--device", options->device, "cpu | cuda | auto")
      ->check(CLI::IsMember({"cpu", "cuda", "auto"}))
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "Intra-op threads of the trainer")
      ->capture_default_str();
  cmd->add_option("--lease", options->lease_seconds,
                  "Seconds without a heartbeat after which a run is requeued")
      ->capture_default_str();
  cmd->add_option("--heartbeat", options->heartbeat_seconds, "Seconds between lease renewals")
      ->capture_default_str();
  cmd->add_option("--name", options->worker_name, "Worker name (default host:pid)");
  cmd->add_flag("--events", options->events,
                "Slurm mode: write <project>/runs/<id>/events.jsonl instead of the database");
  cmd->add_option("--max-attempts", options->max_attempts,
                  "Attempts lost to a vanished rank before the run fails")
      ->capture_default_str();
  auto* peer = cmd->add_option("--peer", options->peer,
                               "HOST:PORT: train as another rank of the run whose rank 0 serves "
                               "its store there (rank 0 starts these itself)");
  cmd->add_option("--rank", options->rank, "With --peer: this process's rank (1 or more)")
      ->needs(peer);
  cmd->callback([options, &global] {
    options->db = global.db;
    std::signal(SIGTERM, OnStopSignal);
    std::signal(SIGINT, OnStopSignal);
    WorkerSummary s = RunWorker(*options, {TrainRun, FinalWeightsPath, TrainPeer}, g_stop);
    if (!options->peer.empty()) return;
    Log(LogLevel::kInfo, "worker: {} done, {} failed, {} released, {} lease lost", s.finished,
        s.failed, s.released, s.lease_lost);
  });
}

}  // namespace sims
