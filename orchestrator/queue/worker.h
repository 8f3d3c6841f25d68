#pragma once
// The worker loop behind `sims worker`: claim a run with a lease, train it while a heartbeat
// thread renews the lease, record the outcome, go on. Call RunWorker; the CLI passes TrainRun
// (trainer/train.h) in the executor, the overhead benchmark a no-op.
//
// Outcomes, per claimed run:
//   executor returns kFinished          -> FinishRun (done)
//   executor throws                     -> FailRun with the exception text; the loop goes on
//   stop requested (SIGTERM)            -> executor checkpoints, returns kStopped -> ReleaseRun
//                                          (planned again, attempt kept); the worker exits
//   lease lost (heartbeat refused: the
//   run was requeued or cancelled)      -> executor stops at its next step; nothing is written
//                                          for that run; the loop goes on
//   another rank vanished (RankLost)    -> RequeueRun: planned again with attempt+1 (failed at
//                                          max_attempts); the next attempt resumes
// A run with ranks > 1: this worker is rank 0 and starts ranks 1.. as `sims worker --peer` child
// processes on this machine (they die with it); on Slurm, srun starts every rank (SLURM_PROCID).
// In events mode (Slurm: no SQLite on shared storage) the worker never opens the database: it
// reads `<project>/runs/<id>/config.json` and appends to events.jsonl (see ingest.h).
#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sweeps/run_config.h"
#include "trainer/train.h"

namespace sims {

// What the worker needs of the trainer (trainer/train.h): the CLI passes {TrainRun,
// FinalWeightsPath}; the overhead benchmark a no-op. Passing them in keeps this library
// torch-free.
struct Executor {
  std::function<TrainOutcome(const std::string& run_id, const RunConfig& config,
                             const TrainEnvironment& env, const TrainHooks& hooks)>
      train;
  std::function<std::string(const std::string& run_dir)> final_weights_path;
  // Ranks 1.. of a multi-rank run (trainer/train.h TrainPeer).
  std::function<void(const DistributedSpec& spec, const std::atomic<bool>& stop)> train_peer;
};

struct WorkerOptions {
  std::string db = "sims.db";  // the project database; its folder is the project directory
  std::string run_id;          // train only this run (--run)
  std::string sweep;           // claim only runs of this sweep (empty: any)
  bool loop = false;           // keep claiming until nothing is left; else one run (--once)
  bool events = false;         // Slurm mode: write events.jsonl, never open the database
  std::string worker_name;     // empty: "<host>:<pid>" (the pool relies on this default)
  std::string device = "cpu";  // cpu | cuda | auto, passed to the trainer
  int threads = 1;             // intra-op threads of the trainer
  double lease_seconds = 60;   // a run whose worker is silent this long is requeued
  double heartbeat_seconds = 5;  // lease renewal period; well under lease_seconds
  double idle_poll_seconds = 1;  // --loop: wait between claims while runs wait on dependencies
  int max_attempts = 3;        // a run whose attempts are lost this often (a rank died) fails
  // --peer HOST:PORT --rank R: this process is rank R of the run rank 0 serves there (started
  // by that worker; it reads everything from rank 0's store and never opens the database).
  std::string peer;
  int rank = 0;
};

// Ranks 1.. of a multi-rank run on this machine, as `sims worker --peer` children of this
// process (the worker's, and `sims bench train --ranks`'s). They end by themselves with the run
// (the ranks agree on every stop); the destructor reaps them, killing any that outlive a grace
// period (a rank blocked on a collective after rank 0 failed).
class PeerRanks {
 public:
  PeerRanks() = default;
  ~PeerRanks();
  PeerRanks(const PeerRanks&) = delete;
  PeerRanks& operator=(const PeerRanks&) = delete;
  // Starts ranks 1..ranks-1 against rank 0's store on 127.0.0.1:port.
  void Start(int64_t ranks, int port);

 private:
  std::vector<pid_t> pids_;
};

// Throws UserError naming the field if an option is out of range.
void ValidateWorkerOptions(const WorkerOptions& options);

struct WorkerSummary {
  int finished = 0;
  int failed = 0;
  int released = 0;    // stopped by a signal and handed back
  int lease_lost = 0;  // taken away by RequeueExpired/CancelRun while we trained
};

// Runs until one run is handled (default), until nothing is claimable (loop), or until *stop
// becomes true. `stop` is set by the caller's signal handler.
WorkerSummary RunWorker(const WorkerOptions& options, const Executor& executor,
                        const std::atomic<bool>& stop);

// Throws UserError unless `<project>/runs` can be created and written: checked before anything
// is planned or claimed, so a full or read-only disk leaves the database as it was.
void CheckProjectWritable(const std::string& project_dir);

// "<hostname>:<pid>" of this process.
std::string DefaultWorkerName();

}  // namespace sims
