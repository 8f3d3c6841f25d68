#include "orchestrator/queue/slurm.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "common/log.h"
#include "common/names.h"
#include "orchestrator/queue/ingest.h"
#include "orchestrator/queue/process.h"
#include "sweeps/run_config.h"

namespace sims {

namespace fs = std::filesystem;

CommandResult RunCommand(const std::vector<std::string>& args) {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "sims: cannot run %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  CommandResult result;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(pipe_fds[0], buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    result.out.append(buffer, static_cast<size_t>(n));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.status == 127) {
    throw UserError(fmt::format("{}: could not be run\nhint: is Slurm installed and on PATH?",
                                args.front()));
  }
  return result;
}

void ValidateSlurmOptions(const SlurmOptions& o) {
  if (o.array_limit < 0) {
    throw UserError(fmt::format("--array-limit {}: must be 0 (no limit) or more", o.array_limit));
  }
  if (o.threads < 1) throw UserError(fmt::format("--threads {}: must be at least 1", o.threads));
  if (!(o.heartbeat_seconds > 0)) {
    throw UserError(fmt::format("--heartbeat {}: must be positive", o.heartbeat_seconds));
  }
}

std::vector<std::string> LiveSlurmJobs(const std::vector<std::string>& job_ids) {
  if (job_ids.empty()) return {};
  // One squeue call for all jobs: %i prints "<job>_<task>" for array tasks, %F the array job.
  CommandResult r = RunCommand({"squeue", "-h", "-o", "%i %F"});
  if (r.status != 0) {
    throw UserError(fmt::format("squeue failed (exit {})\nhint: check SLURM_CONF and that "
                                "slurmctld is up (sinfo)",
                                r.status));
  }
  std::set<std::string> live;
  std::istringstream lines(r.out);
  std::string task, array;
  while (lines >> task >> array) {
    live.insert(task);
    live.insert(array);
    // A pending array prints "123_[0-5%2]": its tasks are all live.
    if (auto bracket = task.find("_["); bracket != std::string::npos) {
      live.insert(task.substr(0, bracket));
    }
  }
  std::vector<std::string> out;
  for (const std::string& id : job_ids) {
    std::string array_id = id.substr(0, id.find('_'));
    bool pending_array = false;
    for (const std::string& l : live) {
      if (l.rfind(array_id + "_[", 0) == 0) pending_array = true;
    }
    if (live.count(id) || pending_array) out.push_back(id);
  }
  return out;
}

namespace {

std::string ReadFileOr(const fs::path& path, const std::string& fallback) {
  std::ifstream in(path);
  if (!in) return fallback;
  std::string text((std::istreambuf_iterator<char>(in)), {});
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string SlurmScript(const std::string& sweep, int level, const std::vector<std::string>& ids,
                        const std::string& exe, const std::string& db_path,
                        const SlurmOptions& o, int64_t ranks) {
  // Every word that comes from the user (names, paths, the device) goes through ShellQuote;
  // the sweep name in the comment is a validated name, so it cannot end the comment line.
  ValidateName(NameKind::kSweep, sweep, "slurm script");
  std::vector<std::string> quoted_ids;
  for (const std::string& id : ids) {
    ValidateName(NameKind::kRun, id, "slurm script");
    quoted_ids.push_back(ShellQuote(id));
  }
  // Several ranks: srun starts them all (one per task; a failed one ends the step), and they
  // meet at rank 0's store on this node, on a port derived from the job id (unique per task).
  const std::string launch =
      ranks > 1 ? "export SIMS_STORE_HOST=\"$(hostname)\"\n"
                  "export SIMS_STORE_PORT=$((20000 + SLURM_JOB_ID % 40000))\n"
                  "exec srun --kill-on-bad-exit=1 "
                : "exec ";
  return fmt::format(
      "#!/bin/bash\n"
      "# sims: sweep {}, dependency level {}, {} runs of {} rank{}; array task i trains ids[i].\n"
      "ids=({})\n"
      "{}{} --db {} worker --events --run \"${{ids[$SLURM_ARRAY_TASK_ID]}}\" "
      "--device {} --threads {} --heartbeat {} --lease {}\n",
      sweep, level, ids.size(), ranks, ranks > 1 ? "s" : "", fmt::join(quoted_ids, " "), launch,
      ShellQuote(exe), ShellQuote(db_path), ShellQuote(o.device), o.threads, o.heartbeat_seconds,
      2 * o.heartbeat_seconds);
}

SlurmSubmission SubmitSlurm(Store& store, const std::string& db_path, const std::string& sweep,
                            const SlurmOptions& o) {
  ValidateSlurmOptions(o);
  // The sweep name reaches a file name, a job name and the batch script (a name read back from
  // a database written before names were checked must not either).
  ValidateName(NameKind::kSweep, sweep, "slurm: --sweep");
  std::string project = ProjectDir(db_path);
  IngestEvents(store, project, sweep, NowSeconds(), 7 * 86400.0);
  std::string exe = o.exe.empty() ? SelfExe() : o.exe;
  std::string db_abs = fs::absolute(db_path).lexically_normal().string();

  std::vector<RunRow> rows = store.ListRuns({sweep, "", std::nullopt});
  std::map<std::string, std::string> job_of;  // run id -> "<job>_<task>" of its last submission
  std::vector<std::string> known_jobs;
  for (const RunRow& r : rows) {
    std::string job = ReadFileOr(fs::path(RunDir(project, r.id)) / "slurm_job", "");
    if (!job.empty()) {
      job_of[r.id] = job;
      known_jobs.push_back(job);
    }
  }
  std::vector<std::string> live_list = LiveSlurmJobs(known_jobs);
  std::set<std::string> live(live_list.begin(), live_list.end());

  SlurmSubmission result;
  std::map<std::string, int> level;  // candidate run -> dependency level
  std::map<std::string, const RunRow*> by_id;
  for (const RunRow& r : rows) by_id[r.id] = &r;
  std::vector<const RunRow*> candidates;
  for (const RunRow& r : rows) {
    if (r.status != RunStatus::kPlanned && r.status != RunStatus::kRunning) continue;
    if (job_of.count(r.id) && live.count(job_of[r.id])) {
      result.skipped.push_back(r.id);
      continue;
    }
    candidates.push_back(&r);
    level[r.id] = 0;
  }
  // Levels: a run goes one level after its deepest candidate dependency. Rows come in plan
  // order (dependencies first), but iterate to a fixed point rather than rely on it.
  std::map<std::string, std::set<std::string>> outside_deps;  // live "<job>_<task>" to wait for
  for (bool changed = true; changed;) {
    changed = false;
    for (const RunRow* r : candidates) {
      for (const std::string& d : store.Dependencies(r->id)) {
        if (level.count(d) && level[r->id] < level[d] + 1) {
          level[r->id] = level[d] + 1;
          changed = true;
        } else if (!level.count(d) && job_of.count(d) && live.count(job_of[d])) {
          outside_deps[r->id].insert(job_of[d]);
        }
      }
    }
  }
  int max_level = -1;
  for (const auto& [id, l] : level) max_level = std::max(max_level, l);

  fs::path slurm_dir = fs::path(project) / "slurm";
  fs::create_directories(slurm_dir);
  std::map<std::string, std::string> task_of;  // run id -> "<job>_<task>" submitted here
  std::string stamp = fmt::format("{:.0f}", NowSeconds());
  std::map<std::string, int64_t> ranks_of;
  for (const RunRow* r : candidates) {
    ranks_of[r->id] = RunConfigFromJson(nlohmann::json::parse(r->config_json)).hp.ranks;
  }
  std::set<std::pair<int, int64_t>> arrays;  // (level, ranks), in that order
  for (const RunRow* r : candidates) arrays.insert({level[r->id], ranks_of[r->id]});
  for (const auto& [l, ranks] : arrays) {
    std::vector<const RunRow*> batch;
    // The array waits for the tasks its runs depend on, each by "<job>_<task>": not for whole
    // earlier arrays, whose other runs (the IsoFLOP runs of level 0) it does not need. One
    // array shares one dependency list, so it is the union over the array's runs.
    std::set<std::string> wait_for;
    for (const RunRow* r : candidates) {
      if (level[r->id] != l || ranks_of[r->id] != ranks) continue;
      batch.push_back(r);
      for (const std::string& j : outside_deps[r->id]) wait_for.insert(j);
      for (const std::string& d : store.Dependencies(r->id)) {
        if (task_of.count(d)) wait_for.insert(task_of[d]);
      }
    }
    if (batch.empty()) continue;
    std::vector<std::string> ids;
    for (const RunRow* r : batch) {
      fs::path run_dir = RunDir(project, r->id);
      fs::create_directories(run_dir);
      WriteFileAtomically(run_dir / "config.json", r->config_json + "\n");
      ids.push_back(r->id);
    }
    fs::path script = PathForName(
        slurm_dir, NameKind::kSweep, sweep,
        fmt::format("-{}-level{}{}.sh", stamp, l, ranks > 1 ? fmt::format("-ranks{}", ranks) : ""),
        "slurm: --sweep");
    WriteFileAtomically(script, SlurmScript(sweep, l, ids, exe, db_abs, o, ranks));
    fs::permissions(script, fs::perms::owner_exec, fs::perm_options::add);
    std::vector<std::string> argv = {
        "sbatch", "--parsable", "--requeue", "--open-mode=append",
        fmt::format("--job-name=sims-{}", sweep),
        fmt::format("--output={}/%A_%a.out", slurm_dir.string()),
        fmt::format("--array=0-{}{}", batch.size() - 1,
                    o.array_limit > 0 ? fmt::format("%{}", o.array_limit) : ""),
        fmt::format("--cpus-per-task={}", o.threads)};
    if (ranks > 1) {
      argv.push_back(fmt::format("--ntasks={}", ranks));
      if (o.device == "cuda") argv.push_back("--gpus-per-task=1");
    }
    if (!o.partition.empty()) argv.push_back("--partition=" + o.partition);
    if (!o.gres.empty()) argv.push_back("--gres=" + o.gres);
    if (!o.time.empty()) argv.push_back("--time=" + o.time);
    if (!wait_for.empty()) {
      std::string dep = "--dependency=afterany";
      for (const std::string& j : wait_for) dep += ":" + j;
      argv.push_back(dep);
    }
    for (const std::string& a : o.sbatch_args) argv.push_back(a);
    argv.push_back(script.string());
    CommandResult r = RunCommand(argv);
    std::string job = r.out.substr(0, r.out.find_first_of(";\n"));
    if (r.status != 0 || job.empty()) {
      throw UserError(fmt::format("sbatch failed (exit {}) for {}; {} runs of level {} were not "
                                  "submitted\nhint: run the script by hand with sbatch to see "
                                  "Slurm's message",
                                  r.status, script.string(), batch.size(), l));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      task_of[batch[i]->id] = fmt::format("{}_{}", job, i);
      WriteFileAtomically(fs::path(RunDir(project, batch[i]->id)) / "slurm_job",
                          task_of[batch[i]->id] + "\n");
      result.submitted.push_back(batch[i]->id);
    }
    result.job_ids.push_back(job);
    Log(LogLevel::kInfo, "slurm: submitted job {} ({} runs, level {}{}{})", job, batch.size(), l,
        ranks > 1 ? fmt::format(", {} ranks each", ranks) : "",
        wait_for.empty() ? "" : fmt::format(", after {}", fmt::join(wait_for, " ")));
  }
  return result;
}

std::string CancelSlurmTask(const std::string& run_dir) {
  const std::string task = ReadFileOr(fs::path(run_dir) / "slurm_job", "");
  if (task.empty() || LiveSlurmJobs({task}).empty()) return "";
  CommandResult r = RunCommand({"scancel", task});
  if (r.status != 0) {
    throw UserError(fmt::format("scancel {} failed (exit {}): {}", task, r.status, r.out));
  }
  return task;
}

}  // namespace sims
