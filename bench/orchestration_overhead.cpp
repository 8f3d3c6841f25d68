// Orchestration overhead per run, with a no-op trainer called in-process through the worker's
// Executor seam: what the queue costs on top of training.
//
//   build/bench/orchestration_overhead [RUNS=2000] [DIR=/tmp]
//
// Measures, on a fresh SQLite file (WAL, as in production):
//   plan     InsertRuns of RUNS runs (the store half of `sims plan`)
//   schedule RunWorker --loop over them: claim + heartbeat thread start/stop + finish, and the
//            one train/loss row the executor emits per run
//   beat     one Heartbeat (a running run pays one per heartbeat period, 5 s by default)
//   ingest   IngestEvents of RUNS events files (start, 3 metrics, done), as on Slurm
// and prints one JSON object.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "common/log.h"

#include "orchestrator/ingest.h"
#include "orchestrator/worker.h"
#include "results/store.h"

namespace fs = std::filesystem;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

std::vector<sims::NewRun> MakeRuns(int n, const std::string& sweep) {
  std::vector<sims::NewRun> runs;
  for (int i = 0; i < n; ++i) {
    sims::RunConfig c;
    c.sweep = sweep;
    c.condition = "textless";
    c.design = sims::DesignKind::kGrid;
    c.seed = static_cast<uint64_t>(i);
    c.steps = 100;
    sims::NewRun r;
    r.id = sims::RunId(c);
    r.condition = c.condition;
    r.n_params = 1000000;
    r.n_params_non_embedding = 900000;
    r.tokens = 1000000;
    r.steps = 100;
    r.flops = 6e12;
    r.flops_per_token = 6e6;
    r.config_json = sims::ToJson(c).dump();
    runs.push_back(std::move(r));
  }
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::stoi(argv[1]) : 2000;
  fs::path dir = fs::path(argc > 2 ? argv[2] : "/tmp") /
                 ("sims-overhead-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string db = (dir / "sims.db").string();
  nlohmann::json out = {{"runs", n}};
  {
    sims::Store store = sims::Store::Open(db);
    auto t = std::chrono::steady_clock::now();
    store.InsertRuns(store.UpsertSweep("bench", "# bench"), MakeRuns(n, "bench"));
    out["plan_ms_per_run"] = 1e3 * Seconds(t) / n;
  }

  // Schedule: one worker loop over every run; the executor emits one metric and returns.
  sims::Executor noop;
  noop.final_weights_path = [](const std::string& d) { return d + "/final.pt"; };
  noop.train = [](const std::string& id, const sims::RunConfig& c, const sims::TrainEnvironment&,
                  const sims::TrainHooks& hooks) {
    hooks.emit({{id, c.steps, 0, "train/loss", 1.0}}, {});
    hooks.progress(c.steps);
    return sims::TrainOutcome::kFinished;
  };
  sims::WorkerOptions o;
  o.db = db;
  o.loop = true;
  o.sweep = "bench";
  std::atomic<bool> stop{false};
  sims::Log(sims::LogLevel::kInfo, "scheduling {} runs...", n);
  sims::CurrentLogLevel() = sims::LogLevel::kWarn;  // one info line per run would dominate
  auto t = std::chrono::steady_clock::now();
  sims::WorkerSummary s = sims::RunWorker(o, noop, stop);
  double schedule = Seconds(t);
  out["schedule_ms_per_run"] = 1e3 * schedule / n;
  out["finished"] = s.finished;

  sims::Store store = sims::Store::Open(db);
  {
    // Heartbeats against a running run (claimed again after a reset of one run).
    std::string id = store.ListRuns({"bench", "", std::nullopt}).front().id;
    store.ResetRun(id);
    store.ClaimRun("bench", sims::NowSeconds(), 60, "", id);
    const int beats = 2000;
    auto tb = std::chrono::steady_clock::now();
    for (int i = 0; i < beats; ++i) store.Heartbeat(id, "bench", sims::NowSeconds(), 60, i);
    out["heartbeat_ms"] = 1e3 * Seconds(tb) / beats;
    store.FinishRun(id, "bench", sims::NowSeconds());
  }
  {
    // Ingest: a second sweep whose runs report through events files.
    store.InsertRuns(store.UpsertSweep("slurm", "# bench"), MakeRuns(n, "slurm"));
    for (const sims::RunRow& r : store.ListRuns({"slurm", "", std::nullopt})) {
      std::string run_dir = sims::RunDir(dir.string(), r.id);
      fs::create_directories(run_dir);
      sims::EventLog log(sims::EventsPath(run_dir));
      log.Append({{{"event", "start"}, {"time", 1.0}, {"worker", "slurm:1_0"}},
                  {{"event", "metric"}, {"step", 50}, {"tokens", 1}, {"name", "train/loss"},
                   {"value", 2.0}},
                  {{"event", "metric"}, {"step", 100}, {"tokens", 2}, {"name", "train/loss"},
                   {"value", 1.5}},
                  {{"event", "metric"}, {"step", 100}, {"tokens", 2}, {"name", "val/loss/speech"},
                   {"value", 1.7}},
                  {{"event", "done"}, {"time", 2.0}}});
    }
    auto ti = std::chrono::steady_clock::now();
    sims::IngestSummary is = sims::IngestEvents(store, dir.string(), "slurm", sims::NowSeconds(), 60);
    out["ingest_ms_per_run"] = 1e3 * Seconds(ti) / n;
    out["ingested_done"] = is.runs_done;
    auto tr = std::chrono::steady_clock::now();
    sims::IngestEvents(store, dir.string(), "slurm", sims::NowSeconds(), 60);
    out["reingest_ms_per_run"] = 1e3 * Seconds(tr) / n;
  }
  double plan_schedule_ms = out["plan_ms_per_run"].get<double>() + 1e3 * schedule / n;
  out["runs_planned_and_scheduled_per_minute"] = 60e3 / plan_schedule_ms;
  // A run of one minute with 5 s heartbeats, scheduled locally, or ingested on Slurm.
  out["overhead_ms_per_run_local"] =
      out["schedule_ms_per_run"].get<double>() + 12 * out["heartbeat_ms"].get<double>();
  out["overhead_ms_per_run_slurm"] = out["ingest_ms_per_run"].get<double>();
  std::printf("%s\n", out.dump(2).c_str());
  std::error_code ec;
  fs::remove_all(dir, ec);
  return s.finished == n && out["ingested_done"] == n ? 0 : 1;
}
