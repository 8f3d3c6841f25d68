#include "orchestrator/worker.h"

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
#include "orchestrator/ingest.h"

namespace sims {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Calls `beat` every `period` seconds on its own thread until destroyed. The thread owns its
// own resources (a Store connection in local mode): SQLite connections are not shared across
// threads here.
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

// One claimed run against the database. Returns false when the worker must stop.
bool TrainClaimed(const WorkerOptions& options, const std::string& worker, Store& store,
                  const RunRow& row, const std::string& project_dir, const Executor& executor,
                  const std::atomic<bool>& stop, WorkerSummary& summary) {
  std::atomic<int64_t> step{row.last_step};
  std::atomic<bool> lease_lost{false};
  TrainHooks hooks;
  hooks.emit = [&](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>& evals) {
    if (!metrics.empty()) store.InsertMetrics(metrics);
    if (!evals.empty()) store.InsertEvals(evals);
  };
  hooks.progress = [&](int64_t s) { step = s; };
  hooks.stop_requested = [&] { return stop.load() || lease_lost.load(); };

  std::string error;
  TrainOutcome outcome = TrainOutcome::kStopped;
  {
    Store beat_store = Store::Open(options.db, OpenMode::kExisting);
    HeartbeatThread heartbeat(options.heartbeat_seconds, [&] {
      if (!beat_store.Heartbeat(row.id, worker, NowSeconds(), options.lease_seconds, step)) {
        lease_lost = true;
      }
    });
    try {
      RunConfig config = RunConfigFromJson(json::parse(row.config_json));
      TrainEnvironment env = MakeEnvironment(options, executor, project_dir, row.id, config);
      outcome = executor.train(row.id, config, env, hooks);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  double now = NowSeconds();
  if (lease_lost) {
    Log(LogLevel::kWarn, "worker {}: run {} was taken away (lease expired or cancelled); "
        "its state is left to the database", worker, row.id);
    ++summary.lease_lost;
    return !stop;
  }
  if (!error.empty()) {
    Log(LogLevel::kWarn, "worker {}: run {} failed: {}", worker, row.id, error);
    store.FailRun(row.id, worker, now, error);
    ++summary.failed;
    return !stop;
  }
  if (outcome == TrainOutcome::kFinished) {
    store.Heartbeat(row.id, worker, now, options.lease_seconds, row.total_steps);
    store.FinishRun(row.id, worker, now);
    Log(LogLevel::kInfo, "worker {}: run {} done", worker, row.id);
    ++summary.finished;
    return !stop;
  }
  store.Heartbeat(row.id, worker, now, options.lease_seconds, step);
  store.ReleaseRun(row.id, worker);
  Log(LogLevel::kInfo, "worker {}: run {} stopped at step {} and released", worker, row.id,
      step.load());
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
  std::string events_path = EventsPath(run_dir);
  if (fs::exists(events_path) &&
      SummarizeEvents(options.run_id, ReadEvents(events_path)).terminal == "done") {
    Log(LogLevel::kInfo, "worker {}: run {} is already done", worker, options.run_id);
    return summary;
  }
  EventLog log(events_path);
  double now = NowSeconds();
  log.Append({{{"event", "start"},
               {"time", now},
               {"worker", worker},
               {"attempt", std::stoi(EnvOr("SLURM_RESTART_COUNT", "0"))}}});
  for (const std::string& dep : config.depends_on) {
    std::string dep_events = EventsPath(RunDir(project_dir, dep));
    EventSummary d;
    if (fs::exists(dep_events)) d = SummarizeEvents(dep, ReadEvents(dep_events));
    if (d.terminal != "done") {
      std::string error = fmt::format("dependency {} failed: {}", dep,
                                      d.terminal == "failed" ? d.error : "it did not finish");
      log.Append({{{"event", "failed"}, {"time", NowSeconds()}, {"error", error}}});
      ++summary.failed;
      return summary;
    }
  }

  std::atomic<int64_t> step{0};
  TrainHooks hooks;
  hooks.emit = [&](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>& evals) {
    std::vector<json> lines;
    for (const MetricRow& m : metrics) {
      lines.push_back({{"event", "metric"}, {"step", m.step}, {"tokens", m.tokens},
                       {"name", m.name}, {"value", m.value}});
    }
    for (const EvalRow& e : evals) {
      lines.push_back({{"event", "eval"}, {"step", e.step}, {"task", e.task},
                       {"accuracy", e.accuracy}, {"n_pairs", e.n_pairs}});
    }
    if (!lines.empty()) log.Append(lines);
  };
  hooks.progress = [&](int64_t s) { step = s; };
  hooks.stop_requested = [&] { return stop.load(); };
  std::string error;
  TrainOutcome outcome = TrainOutcome::kStopped;
  {
    HeartbeatThread heartbeat(options.heartbeat_seconds, [&] {
      log.Append({{{"event", "progress"}, {"time", NowSeconds()}, {"step", step.load()}}});
    });
    try {
      TrainEnvironment env = MakeEnvironment(options, executor, project_dir, options.run_id, config);
      outcome = executor.train(options.run_id, config, env, hooks);
    } catch (const std::exception& e) {
      error = e.what();
      if (error.empty()) error = "unknown error";
    }
  }
  if (!error.empty()) {
    log.Append({{{"event", "failed"}, {"time", NowSeconds()}, {"error", error}}});
    ++summary.failed;
  } else if (outcome == TrainOutcome::kFinished) {
    log.Append({{{"event", "progress"}, {"time", NowSeconds()}, {"step", config.steps}},
                {{"event", "done"}, {"time", NowSeconds()}}});
    ++summary.finished;
  } else {
    log.Append({{{"event", "stopped"}, {"time", NowSeconds()}, {"step", step.load()}}});
    ++summary.released;
  }
  return summary;
}

}  // namespace

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
}

std::string DefaultWorkerName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) std::snprintf(host, sizeof(host), "host");
  return fmt::format("{}:{}", host, ::getpid());
}

WorkerSummary RunWorker(const WorkerOptions& options, const Executor& executor,
                        const std::atomic<bool>& stop) {
  ValidateWorkerOptions(options);
  return options.events ? RunWorkerEvents(options, executor, stop)
                        : RunWorkerDatabase(options, executor, stop);
}

}  // namespace sims
