// The orchestrator's queue logic without training: the worker loop, events files and ingest,
// the progress view. The trainer enters the worker through its Executor seam; here the executor
// is a stand-in that emits a few metrics per step (what the worker must store) and can throw or
// stop, so these tests run in milliseconds without LibTorch. Real training through the same loop
// is in test_orchestrator_e2e.cpp.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "common/error.h"
#include "orchestrator/ingest.h"
#include "orchestrator/pool.h"
#include "orchestrator/worker.h"
#include "results/store.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using nlohmann::json;
using sims::Store;

namespace {

sims::RunConfig Config(uint64_t seed, int64_t steps) {
  sims::RunConfig c;
  c.sweep = "s";
  c.condition = seed % 2 ? "textless" : "interleaved";
  c.design = sims::DesignKind::kGrid;
  c.seed = seed;
  c.steps = steps;
  c.corpus = "/nonexistent-corpus";
  return c;
}

sims::NewRun Run(const sims::RunConfig& c, std::vector<std::string> deps = {}) {
  sims::NewRun r;
  r.id = sims::RunId(c);
  r.condition = c.condition;
  r.n_params = 1000;
  r.n_params_non_embedding = 800;
  r.tokens = 100 * c.steps;
  r.steps = c.steps;
  r.flops = 6.0 * 1000 * r.tokens;
  r.flops_per_token = 6.0 * 1000;
  r.config_json = sims::ToJson(c).dump();
  r.depends_on = std::move(deps);
  return r;
}

// Plans `n` runs into sweep "s" of a fresh database; returns their ids in plan order.
std::vector<std::string> Plan(Store& store, int n, int64_t steps = 3) {
  int64_t sweep = store.UpsertSweep("s", "# test");
  std::vector<sims::NewRun> runs;
  for (int i = 0; i < n; ++i) runs.push_back(Run(Config(i + 1, steps)));
  store.InsertRuns(sweep, runs);
  std::vector<std::string> ids;
  for (const auto& r : runs) ids.push_back(r.id);
  return ids;
}

// The executor stand-in: one train/loss per step (value 10 - step), progress, stop checks.
sims::Executor SteppingExecutor(std::function<void(const std::string&, int64_t)> on_step = {}) {
  sims::Executor e;
  e.final_weights_path = [](const std::string& dir) { return dir + "/final.pt"; };
  e.train = [on_step](const std::string& id, const sims::RunConfig& c,
                      const sims::TrainEnvironment&, const sims::TrainHooks& hooks) {
    for (int64_t step = 1; step <= c.steps; ++step) {
      if (on_step) on_step(id, step);
      hooks.emit({{id, step, step * 100, "train/loss", 10.0 - step}}, {});
      hooks.progress(step);
      if (hooks.stop_requested()) return sims::TrainOutcome::kStopped;
    }
    hooks.emit({}, {{id, c.steps, "sblimp/speech", 0.75, 40}});
    return sims::TrainOutcome::kFinished;
  };
  return e;
}

sims::WorkerOptions Options(const std::string& db) {
  sims::WorkerOptions o;
  o.db = db;
  o.lease_seconds = 2;
  o.heartbeat_seconds = 0.2;
  o.idle_poll_seconds = 0.05;
  return o;
}

}  // namespace

TEST_CASE("a worker trains every claimable run once and stores its metrics", "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 3);
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  o.loop = true;
  std::atomic<bool> stop{false};
  sims::WorkerSummary s = sims::RunWorker(o, SteppingExecutor(), stop);
  CHECK(s.finished == 3);
  CHECK(s.failed == 0);
  for (const std::string& id : ids) {
    auto row = store.GetRun(id);
    REQUIRE(row);
    CHECK(row->status == sims::RunStatus::kDone);
    CHECK(row->last_step == 3);
    CHECK(store.Metrics(id, "train/loss").size() == 3);
    CHECK(store.Evals(id).size() == 1);
    CHECK(fs::is_directory(dir.path() / "runs" / id));
  }
}

TEST_CASE("a run whose trainer throws is failed with the error text and the loop goes on",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 3);
  sims::Executor e = SteppingExecutor([&](const std::string& id, int64_t step) {
    if (id == ids[1] && step == 2) throw std::runtime_error("run " + id + ": step 2: loss is nan");
  });
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  o.loop = true;
  std::atomic<bool> stop{false};
  sims::WorkerSummary s = sims::RunWorker(o, e, stop);
  CHECK(s.finished == 2);
  CHECK(s.failed == 1);
  CHECK(store.GetRun(ids[0])->status == sims::RunStatus::kDone);
  CHECK(store.GetRun(ids[1])->status == sims::RunStatus::kFailed);
  CHECK(store.GetRun(ids[1])->error == "run " + ids[1] + ": step 2: loss is nan");
  CHECK(store.GetRun(ids[2])->status == sims::RunStatus::kDone);
}

TEST_CASE("a stop request releases the run with its attempt kept", "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 2, 10);
  std::atomic<bool> stop{false};
  sims::Executor e = SteppingExecutor([&](const std::string&, int64_t step) {
    if (step == 4) stop = true;  // what the SIGTERM handler does
  });
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  o.loop = true;
  sims::WorkerSummary s = sims::RunWorker(o, e, stop);
  CHECK(s.released == 1);
  CHECK(s.finished == 0);
  auto row = store.GetRun(ids[0]);
  CHECK(row->status == sims::RunStatus::kPlanned);
  CHECK(row->attempt == 0);
  CHECK(row->worker.empty());
  CHECK(row->last_step == 4);
  CHECK(store.GetRun(ids[1])->status == sims::RunStatus::kPlanned);  // the worker did not go on
}

TEST_CASE("a run cancelled while it trains stops at the next heartbeat and stays cancelled",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 1, 1000000);
  sims::Executor e = SteppingExecutor([&](const std::string& id, int64_t step) {
    if (step == 3) store.CancelRun(id, sims::NowSeconds());  // another process's `runs cancel`
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  std::atomic<bool> stop{false};
  sims::WorkerSummary s = sims::RunWorker(o, e, stop);
  CHECK(s.lease_lost == 1);
  auto row = store.GetRun(ids[0]);
  CHECK(row->status == sims::RunStatus::kFailed);
  CHECK(row->error == "cancelled by user");
  CHECK(row->last_step < 1000000);
}

TEST_CASE("8 worker processes on one database run each of 40 runs exactly once",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  std::string db = dir.file("sims.db");
  std::vector<std::string> ids;
  {
    Store store = Store::Open(db);
    ids = Plan(store, 40, 5);
  }
  std::string log = dir.file("executed.log");
  std::vector<pid_t> pids;
  for (int w = 0; w < 8; ++w) {
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      // Child: its own connections, a real process boundary, exit status = failures seen.
      int code = 0;
      try {
        sims::Executor e = SteppingExecutor([&](const std::string& id, int64_t step) {
          if (step != 1) return;
          int fd = ::open(log.c_str(), O_WRONLY | O_APPEND | O_CREAT, 0644);
          std::string line = id + "\n";
          if (::write(fd, line.data(), line.size()) < 0) code = 3;
          ::close(fd);
        });
        sims::WorkerOptions o = Options(db);
        o.loop = true;
        std::atomic<bool> stop{false};
        sims::WorkerSummary s = sims::RunWorker(o, e, stop);
        if (s.failed || s.lease_lost) code = 1;
      } catch (const std::exception& ex) {
        std::fprintf(stderr, "worker child: %s\n", ex.what());
        code = 2;
      }
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);  // no "database is locked", no lost lease
  }
  std::map<std::string, int> executed;
  std::ifstream in(log);
  for (std::string id; std::getline(in, id);) ++executed[id];
  Store store = Store::Open(db);
  CHECK(executed.size() == ids.size());
  for (const std::string& id : ids) {
    CAPTURE(id);
    CHECK(executed[id] == 1);
    CHECK(store.GetRun(id)->status == sims::RunStatus::kDone);
    CHECK(store.Metrics(id, "train/loss").size() == 5);
  }
}

TEST_CASE("an unwritable project directory is refused before any run is claimed",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 2);
  // A file where the runs directory must go: fails for root too (chmod would not).
  std::ofstream(dir.file("runs")) << "not a directory";
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  o.loop = true;
  std::atomic<bool> stop{false};
  int calls = 0;
  sims::Executor e = SteppingExecutor([&](const std::string&, int64_t) { ++calls; });
  REQUIRE_THROWS_WITH(sims::RunWorker(o, e, stop),
                      Catch::Contains("not writable") && Catch::Contains("database is unchanged"));
  CHECK(calls == 0);
  for (const std::string& id : ids) {
    auto row = store.GetRun(id);
    CHECK(row->status == sims::RunStatus::kPlanned);
    CHECK(row->attempt == 0);
    CHECK(row->started_at.empty());
  }
}

TEST_CASE("an events file ingested twice gives one row per metric and one finished run",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 2);
  std::string run_dir = sims::RunDir(dir.path().string(), ids[0]);
  fs::create_directories(run_dir);
  {
    sims::EventLog log(sims::EventsPath(run_dir));
    log.Append({{{"event", "start"}, {"time", 100.0}, {"worker", "slurm:7_0"}, {"attempt", 0}}});
    log.Append({{{"event", "metric"}, {"step", 1}, {"tokens", 64}, {"name", "train/loss"},
                 {"value", 5.5}},
                {{"event", "metric"}, {"step", 2}, {"tokens", 128}, {"name", "train/loss"},
                 {"value", 5.0}}});
    // Requeued after step 2: the task starts again and re-emits step 2 from its checkpoint.
    log.Append({{{"event", "stopped"}, {"time", 110.0}, {"step", 2}}});
    log.Append({{{"event", "start"}, {"time", 120.0}, {"worker", "slurm:7_0"}, {"attempt", 1}}});
    log.Append({{{"event", "metric"}, {"step", 2}, {"tokens", 128}, {"name", "train/loss"},
                 {"value", 5.0}},
                {{"event", "metric"}, {"step", 3}, {"tokens", 192}, {"name", "train/loss"},
                 {"value", 4.5}},
                {{"event", "eval"}, {"step", 3}, {"task", "sblimp/speech"}, {"accuracy", 0.6},
                 {"n_pairs", 40}}});
    log.Append({{{"event", "done"}, {"time", 130.0}}});
  }
  // A writer killed mid-line leaves a torn line; it is skipped, not an error.
  std::ofstream(sims::EventsPath(run_dir), std::ios::app) << R"({"v":1,"event":"metr)";

  sims::IngestSummary first = sims::IngestEvents(store, dir.path().string(), "s", 200.0, 60);
  CHECK(first.files == 1);
  CHECK(first.metrics_inserted == 3);
  CHECK(first.evals_inserted == 1);
  CHECK(first.runs_done == 1);
  auto row = store.GetRun(ids[0]);
  CHECK(row->status == sims::RunStatus::kDone);
  CHECK(row->last_step == 3);
  CHECK(row->worker == "slurm:7_0");
  CHECK(store.GetRun(ids[1])->status == sims::RunStatus::kPlanned);  // no events file: untouched

  sims::IngestSummary again = sims::IngestEvents(store, dir.path().string(), "s", 300.0, 60);
  CHECK(again.metrics_inserted == 0);
  CHECK(again.evals_inserted == 0);
  CHECK(again.runs_done == 0);
  std::vector<sims::MetricRow> losses = store.Metrics(ids[0], "train/loss");
  REQUIRE(losses.size() == 3);
  CHECK(losses[0].step == 1);
  CHECK(losses[2].value == 4.5);

  // The next writer starts on a fresh line, so both its line and the file stay readable.
  sims::EventLog(sims::EventsPath(run_dir)).Append({{{"event", "progress"}, {"step", 3}}});
  std::vector<json> events = sims::ReadEvents(sims::EventsPath(run_dir));
  CHECK(events.back().value("event", "") == "progress");
  CHECK(sims::SummarizeEvents(ids[0], events).done_events == 1);
}

TEST_CASE("ingest follows a started run, then fails it with the worker's error",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  std::vector<std::string> ids = Plan(store, 1, 10);
  std::string run_dir = sims::RunDir(dir.path().string(), ids[0]);
  fs::create_directories(run_dir);
  sims::EventLog log(sims::EventsPath(run_dir));
  log.Append({{{"event", "start"}, {"time", 100.0}, {"worker", "slurm:9_0"}},
              {{"event", "progress"}, {"time", 105.0}, {"step", 4}}});
  sims::IngestEvents(store, dir.path().string(), "", 106.0, 60);
  auto row = store.GetRun(ids[0]);
  CHECK(row->status == sims::RunStatus::kRunning);
  CHECK(row->last_step == 4);
  CHECK(row->lease_until == Approx(166.0));
  log.Append({{{"event", "failed"}, {"time", 110.0}, {"error", "missing shard train/speech.bin"}}});
  sims::IngestSummary s = sims::IngestEvents(store, dir.path().string(), "", 111.0, 60);
  CHECK(s.runs_failed == 1);
  CHECK(store.GetRun(ids[0])->status == sims::RunStatus::kFailed);
  CHECK(store.GetRun(ids[0])->error == "missing shard train/speech.bin");
}

TEST_CASE("an events-mode worker writes one start, its metrics and one done, and skips a done run",
          "[orchestrator]") {
  sims::testing::TempDir dir;
  sims::RunConfig text_lm = Config(1, 3);
  sims::RunConfig child = Config(2, 3);
  child.init.kind = sims::InitKind::kTextLm;
  child.init.run_id = sims::RunId(text_lm);
  child.depends_on = {child.init.run_id};
  std::string project = dir.path().string();
  for (const sims::RunConfig* c : {&text_lm, &child}) {
    fs::create_directories(sims::RunDir(project, sims::RunId(*c)));
    std::ofstream(fs::path(sims::RunDir(project, sims::RunId(*c))) / "config.json")
        << sims::ToJson(*c).dump();
  }
  sims::WorkerOptions o = Options(dir.file("sims.db"));
  o.events = true;
  std::atomic<bool> stop{false};

  // The dependent first (Slurm's afterany lets it start even when its text LM failed).
  o.run_id = sims::RunId(child);
  CHECK(sims::RunWorker(o, SteppingExecutor(), stop).failed == 1);
  auto child_events = sims::SummarizeEvents(
      o.run_id, sims::ReadEvents(sims::EventsPath(sims::RunDir(project, o.run_id))));
  CHECK(child_events.terminal == "failed");
  CHECK_THAT(child_events.error, Catch::Contains(sims::RunId(text_lm)) &&
                                     Catch::Contains("did not finish"));

  o.run_id = sims::RunId(text_lm);
  std::string init_weights_seen;
  CHECK(sims::RunWorker(o, SteppingExecutor(), stop).finished == 1);
  CHECK(sims::RunWorker(o, SteppingExecutor(), stop).finished == 0);  // already done
  auto events = sims::SummarizeEvents(
      o.run_id, sims::ReadEvents(sims::EventsPath(sims::RunDir(project, o.run_id))));
  CHECK(events.done_events == 1);
  CHECK(events.metrics.size() == 3);
  CHECK(events.evals.size() == 1);
  CHECK(events.step == 3);
  CHECK_FALSE(fs::exists(dir.file("sims.db")));  // events mode never opens the database

  // A retry: the dependent now starts from the text LM's final weights.
  sims::Executor e = SteppingExecutor();
  auto train = e.train;
  e.train = [&](const std::string& id, const sims::RunConfig& c, const sims::TrainEnvironment& env,
                const sims::TrainHooks& hooks) {
    init_weights_seen = env.init_weights;
    return train(id, c, env, hooks);
  };
  sims::EventLog(sims::EventsPath(sims::RunDir(project, sims::RunId(child))))
      .Append({{{"event", "retry"}}});
  o.run_id = sims::RunId(child);
  CHECK(sims::RunWorker(o, e, stop).finished == 1);
  CHECK(init_weights_seen == sims::RunDir(project, sims::RunId(text_lm)) + "/final.pt");
}

TEST_CASE("the progress view counts runs, FLOPs and the ETA from the measured rate",
          "[orchestrator]") {
  auto row = [](const char* condition, const char* status, int64_t step, double flops) {
    sims::RunRow r;
    r.condition = condition;
    r.status = sims::RunStatusFromString(status);
    r.total_steps = 10;
    r.last_step = step;
    r.flops = flops;
    return r;
  };
  std::vector<sims::RunRow> runs = {row("textless", "done", 10, 100),
                                    row("textless", "running", 5, 200),
                                    row("interleaved", "failed", 0, 300),
                                    row("interleaved", "planned", 0, 400)};
  sims::SweepProgress p = sims::ComputeProgress(runs);
  CHECK(p.done == 1);
  CHECK(p.running == 1);
  CHECK(p.failed == 1);
  CHECK(p.planned == 1);
  CHECK(p.flops_total == 1000);
  CHECK(p.flops_done == 200);  // 100 done + half of 200
  CHECK(p.by_condition["textless"] == std::pair<int, int>(1, 2));
  CHECK(p.by_condition["interleaved"] == std::pair<int, int>(0, 2));
  CHECK(p.flops_failed == 300);
  // 500 FLOPs left (the failed run's 300 will not be trained) at 4 FLOP/s: 125 s.
  CHECK(sims::FormatProgress(p, 4.0) ==
        "runs: 1 done, 1 running, 1 failed, 1 planned | interleaved 0/2 textless 1/2 | "
        "FLOPs 2.00e+02/1.00e+03 (20%) | ETA 2m05s");
}
