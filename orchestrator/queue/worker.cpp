#include "orchestrator/queue/worker.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/queue/ingest.h"
#include "orchestrator/queue/process.h"

namespace sims {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Calls `beat` every `period` seconds on its own thread until destroyed.
class HeartbeatThread {
 public:
  HeartbeatThread(double period_seconds, std::function<void()> beat)
      : period_(period_seconds), beat_(std::move(beat)), thread_([this] { Loop(); }) {}
  ~HeartbeatThread() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::duration<double>(period_), [this] { return done_; })) {
      lock.unlock();
      // A failed beat (database busy past the timeout, disk full) must not kill the worker:
      // the lease has slack for several missed beats, and the next one may succeed.
      try {
        beat_();
      } catch (const std::exception& e) {
        Log(LogLevel::kWarn, "worker: heartbeat failed: {}", e.what());
      }
      lock.lock();
    }
  }
  double period_;
  std::function<void()> beat_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;  // last: started after every member it uses is constructed
};

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

void CheckProjectWritable(const std::string& project_dir) {
  fs::path runs = fs::path(project_dir) / "runs";
  std::error_code ec;
  fs::create_directories(runs, ec);
  fs::path probe = runs / fmt::format(".probe-{}", ::getpid());
  bool ok = !ec;
  if (ok) {
    std::ofstream out(probe);
    out << "x";
    out.flush();
    ok = static_cast<bool>(out);
  }
  fs::remove(probe, ec);
  if (!ok) {
    throw UserError(fmt::format(
        "run directory {}: not writable ({}); nothing was planned or claimed, the database is "
        "unchanged\n"
        "hint: free disk space or fix the permissions of the project directory",
        runs.string(), ec ? ec.message() : "cannot write a file there"));
  }
}

namespace {

TrainEnvironment MakeEnvironment(const WorkerOptions& options, const Executor& executor,
                                 const std::string& project_dir, const std::string& run_id,
                                 const RunConfig& config) {
  TrainEnvironment env;
  env.run_dir = RunDir(project_dir, run_id);
  env.corpus_dir = config.corpus;
  if (config.init.kind == InitKind::kTextLm) {
    env.init_weights = executor.final_weights_path(RunDir(project_dir, config.init.run_id));
  }
  env.device = options.device;
  env.threads = options.threads;
  fs::create_directories(env.run_dir);
  return env;
}

// How one training attempt ended, whichever mode ran it.
struct Attempt {
  TrainOutcome outcome = TrainOutcome::kStopped;
  std::string error;        // non-empty: the config or the trainer threw
  bool rank_lost = false;   // with error: another rank vanished (RankLost), not the run's fault
  bool lease_lost = false;  // a beat was refused (database mode only)
  int64_t step = 0;         // last step the trainer reported
};

// Where an attempt reports to: the store (local) or the run's events file (Slurm).
struct AttemptSink {
  // Metrics and evals as the trainer emits them.
  std::function<void(const std::vector<MetricRow>&, const std::vector<EvalRow>&)> emit;
  // Called every heartbeat period with the last step; false means the run is no longer ours.
  std::function<bool(int64_t step)> beat;
};

// The one skeleton of a training attempt in both modes: hooks, a heartbeat thread for the
// attempt's duration, and the trainer inside a try, so an exception fails this run, not the
// worker. `load_config` runs inside the try too: a config the trainer cannot read fails the run.
Attempt TrainAttempt(const WorkerOptions& options, const Executor& executor,
                     const std::string& project_dir, const std::string& run_id,
                     int64_t start_step, const std::function<RunConfig()>& load_config,
                     const AttemptSink& sink, const std::atomic<bool>& stop,
                     const DistributedSpec& distributed = {}) {
  std::atomic<int64_t> step{start_step};
  std::atomic<bool> lease_lost{false};
  TrainHooks hooks;
  hooks.emit = sink.emit;
  hooks.progress = [&](int64_t s) { step = s; };
  hooks.stop_requested = [&] { return stop.load() || lease_lost.load(); };
  Attempt attempt;
  {
    PeerRanks peers;  // destroyed after the trainer returned: reaps the other ranks
    int64_t ranks = 1;
    hooks.start_peers = [&](int port) { peers.Start(ranks, port); };
    HeartbeatThread heartbeat(options.heartbeat_seconds, [&] {
      if (!sink.beat(step)) lease_lost = true;
    });
    try {
      RunConfig config = load_config();
      ranks = config.hp.ranks;
      TrainEnvironment env = MakeEnvironment(options, executor, project_dir, run_id, config);
      env.distributed = distributed;
      attempt.outcome = executor.train(run_id, config, env, hooks);
    } catch (const RankLost& e) {
      attempt.error = e.what();
      attempt.rank_lost = true;
    } catch (const std::exception& e) {
      attempt.error = e.what();
      if (attempt.error.empty()) attempt.error = "unknown error";
    }
  }
  attempt.lease_lost = lease_lost;
  attempt.step = step;
  return attempt;
}

// One claimed run against the database. Returns false when the worker must stop.
bool TrainClaimed(const WorkerOptions& options, const std::string& worker, Store& store,
                  const RunRow& row, const std::string& project_dir, const Executor& executor,
                  const std::atomic<bool>& stop, WorkerSummary& summary) {
  // The heartbeat thread gets its own connection: SQLite connections are not shared across
  // threads here.
  Store beat_store = Store::Open(options.db, OpenMode::kExisting);
  AttemptSink sink;
  sink.emit = [&](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>& evals) {
    if (!metrics.empty()) store.InsertMetrics(metrics);
    if (!evals.empty()) store.InsertEvals(evals);
  };
  sink.beat = [&](int64_t step) {
    return beat_store.Heartbeat(row.id, worker, NowSeconds(), options.lease_seconds, step);
  };
  Attempt attempt = TrainAttempt(
      options, executor, project_dir, row.id, row.last_step,
      [&] { return RunConfigFromJson(json::parse(row.config_json)); }, sink, stop);
  double now = NowSeconds();
  if (attempt.lease_lost) {
    Log(LogLevel::kWarn, "worker {}: run {} was taken away (lease expired or cancelled); "
        "its state is left to the database", worker, row.id);
    ++summary.lease_lost;
    return !stop;
  }
  if (attempt.rank_lost) {
    const auto left = store.RequeueRun(row.id, worker, options.max_attempts, attempt.error);
    Log(LogLevel::kWarn, "worker {}: {}; run {} is {}", worker, attempt.error, row.id,
        left == RunStatus::kPlanned ? "planned again and resumes from its last checkpoint"
        : left                      ? ToString(*left)
                                    : "no longer ours");
    ++(left == RunStatus::kFailed ? summary.failed : summary.released);
    return !stop;
  }
  if (!attempt.error.empty()) {
    Log(LogLevel::kWarn, "worker {}: run {} failed: {}", worker, row.id, attempt.error);
    store.FailRun(row.id, worker, now, attempt.error);
    ++summary.failed;
    return !stop;
  }
  if (attempt.outcome == TrainOutcome::kFinished) {
    store.Heartbeat(row.id, worker, now, options.lease_seconds, row.total_steps);
    store.FinishRun(row.id, worker, now);
    Log(LogLevel::kInfo, "worker {}: run {} done", worker, row.id);
    ++summary.finished;
    return !stop;
  }
  store.Heartbeat(row.id, worker, now, options.lease_seconds, attempt.step);
  store.ReleaseRun(row.id, worker);
  Log(LogLevel::kInfo, "worker {}: run {} stopped at step {} and released", worker, row.id,
      attempt.step);
  ++summary.released;
  return false;
}

WorkerSummary RunWorkerDatabase(const WorkerOptions& options, const Executor& executor,
                                const std::atomic<bool>& stop) {
  WorkerSummary summary;
  std::string worker = options.worker_name.empty() ? DefaultWorkerName() : options.worker_name;
  std::string project_dir = ProjectDir(options.db);
  Store store = Store::Open(options.db, OpenMode::kExisting);
  CheckProjectWritable(project_dir);
  if (!options.run_id.empty() && !store.GetRun(options.run_id)) {
    throw UserError(fmt::format("run {}: not in database {}\nhint: sims status lists the runs",
                                options.run_id, options.db));
  }
  while (!stop) {
    std::optional<RunRow> row = store.ClaimRun(worker, NowSeconds(), options.lease_seconds,
                                               options.sweep, options.run_id);
    if (!row) {
      if (!options.loop) {
        if (!options.run_id.empty()) {
          auto r = store.GetRun(options.run_id);
          Log(LogLevel::kWarn, "worker {}: run {} is not claimable (status {})", worker,
              options.run_id, r ? ToString(r->status) : "?");
        }
        break;
      }
      // Nothing claimable now. Runs that wait on a running dependency become claimable later;
      // runs that wait on a failed one never do (FailOrphans settles them).
      store.FailOrphans();
      RunFilter planned{options.sweep, "", RunStatus::kPlanned};
      RunFilter running{options.sweep, "", RunStatus::kRunning};
      if (store.ListRuns(planned).empty() || store.ListRuns(running).empty()) break;
      std::this_thread::sleep_for(std::chrono::duration<double>(options.idle_poll_seconds));
      continue;
    }
    Log(LogLevel::kInfo, "worker {}: claimed run {} ({} N={} D={}, attempt {})", worker, row->id,
        row->condition, row->n_params, row->tokens, row->attempt);
    if (!TrainClaimed(options, worker, store, *row, project_dir, executor, stop, summary)) break;
    if (!options.loop) break;
  }
  return summary;
}

WorkerSummary RunWorkerEvents(const WorkerOptions& options, const Executor& executor,
                              const std::atomic<bool>& stop) {
  WorkerSummary summary;
  if (options.run_id.empty()) {
    throw UserError("sims worker --events: --run ID is required (a Slurm task trains one run)");
  }
  std::string worker = options.worker_name;
  if (worker.empty()) {
    std::string job = EnvOr("SLURM_ARRAY_JOB_ID", EnvOr("SLURM_JOB_ID", ""));
    worker = job.empty() ? DefaultWorkerName()
                         : fmt::format("slurm:{}_{}", job, EnvOr("SLURM_ARRAY_TASK_ID", "0"));
  }
  std::string project_dir = ProjectDir(options.db);
  std::string run_dir = RunDir(project_dir, options.run_id);
  std::string config_path = (fs::path(run_dir) / "config.json").string();
  std::ifstream in(config_path);
  if (!in) {
    throw UserError(fmt::format("run {}: no {} (written when the run is submitted)\nhint: submit "
                                "with sims run --backend slurm",
                                options.run_id, config_path));
  }
  RunConfig config = RunConfigFromJson(json::parse(in));
  // srun starts every rank of a multi-rank run as a task of one job step; rank 0 (SLURM_PROCID
  // 0, on the node the batch script runs on) serves the store where the script said.
  const int tasks = std::stoi(EnvOr("SLURM_NTASKS", "1"));
  if (tasks != config.hp.ranks) {
    throw UserError(fmt::format("run {}: {} Slurm tasks for a run of ranks = {}\nhint: submit it "
                                "with sims run --backend slurm, which asks for --ntasks = ranks",
                                options.run_id, tasks, config.hp.ranks));
  }
  DistributedSpec distributed;
  if (config.hp.ranks > 1) {
    distributed.rank = std::stoi(EnvOr("SLURM_PROCID", "0"));
    distributed.local_rank = std::stoi(EnvOr("SLURM_LOCALID", "0"));
    distributed.store_host = EnvOr("SIMS_STORE_HOST", "");
    distributed.store_port = std::stoi(EnvOr("SIMS_STORE_PORT", "0"));
    distributed.peers_started_elsewhere = true;
    if (distributed.store_host.empty() || distributed.store_port == 0) {
      throw UserError(fmt::format("run {}: SIMS_STORE_HOST / SIMS_STORE_PORT are not set (the "
                                  "batch script sims writes sets them)", options.run_id));
    }
    if (distributed.rank > 0) {
      executor.train_peer(distributed, stop);
      return summary;
    }
  }
  std::string events_path = EventsPath(run_dir);
  if (fs::exists(events_path) &&
      SummarizeEvents(options.run_id, ReadEvents(events_path)).terminal == EventKind::kDone) {
    Log(LogLevel::kInfo, "worker {}: run {} is already done", worker, options.run_id);
    return summary;
  }
  EventLog log(events_path);
  double now = NowSeconds();
  log.Append({MakeEvent(EventKind::kStart,
                         {{"time", now},
                          {"worker", worker},
                          {"attempt", std::stoi(EnvOr("SLURM_RESTART_COUNT", "0"))}})});
  for (const std::string& dep : config.depends_on) {
    std::string dep_events = EventsPath(RunDir(project_dir, dep));
    EventSummary d;
    if (fs::exists(dep_events)) {
      d = SummarizeEvents(dep, ReadEvents(dep_events));
    } else if (fs::exists(executor.final_weights_path(RunDir(project_dir, dep)))) {
      continue;  // trained by the local backend (no events file): its final weights are there
    }
    if (d.terminal != EventKind::kDone) {
      std::string error =
          fmt::format("dependency {} failed: {}", dep,
                      d.terminal == EventKind::kFailed ? d.error : "it did not finish");
      log.Append({MakeEvent(EventKind::kFailed, {{"time", NowSeconds()}, {"error", error}})});
      ++summary.failed;
      return summary;
    }
  }

  AttemptSink sink;
  sink.emit = [&](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>& evals) {
    std::vector<json> lines;
    for (const MetricRow& m : metrics) {
      lines.push_back(MakeEvent(EventKind::kMetric, {{"step", m.step}, {"tokens", m.tokens},
                                                     {"name", m.name}, {"value", m.value}}));
    }
    for (const EvalRow& e : evals) {
      lines.push_back(MakeEvent(EventKind::kEval, {{"step", e.step}, {"task", e.task},
                                                   {"accuracy", e.accuracy},
                                                   {"n_pairs", e.n_pairs}}));
    }
    if (!lines.empty()) log.Append(lines);
  };
  // No lease to lose on Slurm: the scheduler, not the database, owns the task.
  sink.beat = [&](int64_t step) {
    log.Append({MakeEvent(EventKind::kProgress, {{"time", NowSeconds()}, {"step", step}})});
    return true;
  };
  Attempt attempt = TrainAttempt(options, executor, project_dir, options.run_id, 0,
                                 [&] { return config; }, sink, stop, distributed);
  if (!attempt.error.empty()) {
    log.Append({MakeEvent(EventKind::kFailed, {{"time", NowSeconds()}, {"error", attempt.error}})});
    ++summary.failed;
  } else if (attempt.outcome == TrainOutcome::kFinished) {
    log.Append({MakeEvent(EventKind::kProgress, {{"time", NowSeconds()}, {"step", config.steps}}),
                MakeEvent(EventKind::kDone, {{"time", NowSeconds()}})});
    ++summary.finished;
  } else {
    log.Append({MakeEvent(EventKind::kStopped, {{"time", NowSeconds()}, {"step", attempt.step}})});
    ++summary.released;
  }
  return summary;
}

}  // namespace

PeerRanks::~PeerRanks() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  for (pid_t pid : pids_) {
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void PeerRanks::Start(int64_t ranks, int port) {
  const std::string level = CurrentLogLevel() <= LogLevel::kDebug  ? "debug"
                            : CurrentLogLevel() <= LogLevel::kInfo ? "info"
                                                                   : "warn";
  for (int64_t r = 1; r < ranks; ++r) {
    // SIGKILL when this process dies: a rank without its rank 0 has nothing left to do. A peer
    // reads everything from rank 0's store, so it needs no --db.
    pids_.push_back(StartChild({SelfExe(), "--log-level", level, "worker", "--peer",
                                fmt::format("127.0.0.1:{}", port), "--rank", std::to_string(r)},
                               {.own_process_group = false, .parent_death_signal = SIGKILL}));
  }
}

void ValidateWorkerOptions(const WorkerOptions& o) {
  if (o.threads < 1) {
    throw UserError(fmt::format("--threads {}: must be at least 1", o.threads));
  }
  if (o.device != "cpu" && o.device != "cuda" && o.device != "auto") {
    throw UserError(fmt::format("--device {}: expected cpu, cuda or auto", o.device));
  }
  if (!(o.heartbeat_seconds > 0) || !(o.lease_seconds >= 2 * o.heartbeat_seconds)) {
    throw UserError(fmt::format(
        "--lease {} / --heartbeat {}: the lease must be at least two heartbeats, so one late "
        "beat does not requeue a healthy run",
        o.lease_seconds, o.heartbeat_seconds));
  }
  if (o.loop && !o.run_id.empty()) {
    throw UserError("sims worker: --loop and --run exclude each other");
  }
  if (o.max_attempts < 1) {
    throw UserError(fmt::format("--max-attempts {}: must be at least 1", o.max_attempts));
  }
  if (!o.peer.empty()) {
    const auto colon = o.peer.rfind(':');
    const std::string port = colon == std::string::npos ? "" : o.peer.substr(colon + 1);
    if (colon == 0 || port.empty() || port.size() > 5 ||
        port.find_first_not_of("0123456789") != std::string::npos || std::stoi(port) > 65535) {
      throw UserError(fmt::format("--peer {}: expected HOST:PORT (rank 0's store)", o.peer));
    }
    if (o.rank < 1) {
      throw UserError(fmt::format("--rank {}: a peer is rank 1 or more (rank 0 claims the run)",
                                  o.rank));
    }
  }
}

std::string DefaultWorkerName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
  return fmt::format("{}:{}", host, ::getpid());
}

WorkerSummary RunWorker(const WorkerOptions& options, const Executor& executor,
                        const std::atomic<bool>& stop) {
  ValidateWorkerOptions(options);
  if (!options.peer.empty()) {
    const auto colon = options.peer.rfind(':');
    DistributedSpec spec;
    spec.rank = options.rank;
    spec.local_rank = options.rank;
    spec.store_host = options.peer.substr(0, colon);
    spec.store_port = std::stoi(options.peer.substr(colon + 1));
    executor.train_peer(spec, stop);
    return {};
  }
  return options.events ? RunWorkerEvents(options, executor, stop)
                        : RunWorkerDatabase(options, executor, stop);
}

}  // namespace sims
