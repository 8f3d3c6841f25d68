#pragma once
// The Slurm backend of `sims run --backend slurm`: submits the sweep's runnable runs as job
// arrays, one run per array task, and follows them through their events files (ingest.h).
// Call SubmitSlurm after the sweep is planned; WatchSlurm to follow it to the end.
//
// Why one run per task and no claiming on the cluster: SQLite must not live on a network
// filesystem, so tasks never open the database. Each task runs
//   sims --db <db> worker --events --run <id>
// which reads <project>/runs/<id>/config.json (written here) and appends to events.jsonl.
// A run of ranks > 1 is one array task of `ranks` Slurm tasks (--ntasks; --gpus-per-task=1 with
// --device cuda), started by srun; arrays are per dependency level and ranks.
// Dependencies (text-LM runs before the runs that start from them) become one array per
// dependency level, each submitted with --dependency=afterany:<job>_<task>:... naming only the
// tasks its runs depend on (afterany, so a failed text LM fails its dependents with a message
// instead of leaving them pending forever).
// Arrays are submitted with --requeue and --open-mode=append: a preempted or requeued task gets
// SIGTERM, checkpoints, and resumes from the checkpoint when Slurm restarts it.
// Slurm state is read with squeue (sacct needs accounting, which small clusters often lack).
#include <string>
#include <vector>

#include "results/store.h"

namespace sims {

struct SlurmOptions {
  std::string partition;         // --partition; empty = the cluster default
  std::string gres;              // e.g. "gpu:1"
  std::string time;              // --time, e.g. "04:00:00"; empty = partition default
  int array_limit = 0;           // at most this many tasks of one array at once (%K); 0 = none
  std::vector<std::string> sbatch_args;  // extra sbatch arguments, passed as they are
  std::string exe;               // sims binary as the nodes see it; empty = this binary
  std::string device = "auto";   // worker --device
  int threads = 1;               // worker --threads, and --cpus-per-task
  double heartbeat_seconds = 30; // progress lines in events.jsonl
};

void ValidateSlurmOptions(const SlurmOptions& options);

struct SlurmSubmission {
  std::vector<std::string> job_ids;    // one per dependency level submitted
  std::vector<std::string> submitted;  // run ids
  std::vector<std::string> skipped;    // already queued or running in a live job
};

// Submits every planned run of `sweep` (and every running one whose job is gone) that is not
// already in a live Slurm job. Writes config.json and slurm_job ("<job>_<task>") in each run
// directory and the batch scripts under <project>/slurm/.
SlurmSubmission SubmitSlurm(Store& store, const std::string& db_path, const std::string& sweep,
                            const SlurmOptions& options);

// The batch script of one array: task i runs `sims worker --events --run ids[i]`. Every word
// from the user is shell-quoted; the sweep and run ids must be valid names (common/names.h).
// ranks > 1 (the array is submitted with --ntasks = ranks): srun starts the ranks, which meet
// at rank 0's store on the batch node (SIMS_STORE_HOST, SIMS_STORE_PORT from the job id).
std::string SlurmScript(const std::string& sweep, int level, const std::vector<std::string>& ids,
                        const std::string& exe, const std::string& db_path,
                        const SlurmOptions& options, int64_t ranks = 1);

// The job ids (array job ids, or "<job>_<task>") that squeue still lists, of those given.
std::vector<std::string> LiveSlurmJobs(const std::vector<std::string>& job_ids);

// Cancels the Slurm task running a run (the "<job>_<task>" in its run directory's slurm_job) if
// squeue still lists it, so `sims runs cancel` stops the training on the cluster too. Returns
// the task cancelled, or "" when the run has no live task. Throws UserError if scancel fails.
std::string CancelSlurmTask(const std::string& run_dir);

// Runs a command without a shell and returns its exit status and stdout: the one seam between
// sims and the Slurm client tools. Throws if the program cannot be started.
struct CommandResult {
  int status = 0;
  std::string out;
};
CommandResult RunCommand(const std::vector<std::string>& argv);

}  // namespace sims
