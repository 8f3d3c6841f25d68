// The orchestrator end to end: the real `sims` binary (SIMS_BINARY) trains tiny runs on a tiny
// corpus written by the corpus library, while the tests kill workers, kill or interrupt the
// orchestrator, and check the database afterwards. Runs take a second or two each.
//
// The Slurm test ([slurm]) starts a private single-node Slurm with scripts/slurm-test-env; it
// needs root and slurm-wlm + munge (scripts/setup --with-slurm) and fails with the script's
// message where the daemons cannot start.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "orchestrator/queue/ingest.h"
#include "orchestrator/queue/slurm.h"
#include "results/store.h"
#include "tests/slurm_env.h"
#include "tests/test_support.h"
#include "tests/test_trainer_corpus.h"

namespace fs = std::filesystem;
using sims::Store;

namespace {

// Starts SIMS_BINARY with `args`; stdin from /dev/null, stdout+stderr appended to `log`.
pid_t Spawn(const std::vector<std::string>& args, const std::string& log,
            const std::string& cwd = "") {
  std::vector<std::string> all = {SIMS_BINARY};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    int in = ::open("/dev/null", O_RDONLY);
    int out = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

int Wait(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Runs sims to the end; returns the exit status and what it printed.
std::pair<int, std::string> Sims(const std::vector<std::string>& args, const std::string& log) {
  std::ofstream(log, std::ios::trunc).close();
  int status = Wait(Spawn(args, log));
  std::ifstream in(log);
  return {status, std::string((std::istreambuf_iterator<char>(in)), {})};
}

bool WaitUntil(const std::function<bool()>& done, double timeout_seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_seconds);
  while (std::chrono::steady_clock::now() < end) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), {});
}

// A project directory with a tiny corpus and a database. Runs are tiny real training runs.
struct Project {
  sims::testing::TempDir dir;
  std::string corpus = dir.file("corpus");
  std::string db = dir.file("sims.db");
  sims::corpus::Vocabulary vocab = sims::testing::WriteTinyCorpus(corpus, 60);

  // Plans one run of `steps` steps (checkpoint at every eval), distinct by seed.
  sims::RunConfig Config(uint64_t seed, int64_t steps, int64_t eval_every = 0) {
    sims::RunConfig c = sims::testing::TinyRunConfig(vocab, corpus, steps);
    c.seed = seed;
    c.hp.eval_every = eval_every;
    c.flops = 6.0 * 1000 * static_cast<double>(c.tokens);
    return c;
  }
  std::string Add(const sims::RunConfig& c) {
    Store store = Store::Open(db);
    sims::NewRun r;
    r.id = sims::RunId(c);
    r.condition = c.condition;
    r.n_params = 1000;
    r.n_params_non_embedding = 800;
    r.tokens = c.tokens;
    r.steps = c.steps;
    r.flops = c.flops;
    r.flops_per_token = c.flops / static_cast<double>(c.tokens);
    r.config_json = sims::ToJson(c).dump();
    r.depends_on = c.depends_on;
    store.InsertRuns(store.UpsertSweep(c.sweep, "# test"), {r});
    return r.id;
  }
  std::string RunDir(const std::string& id) { return sims::RunDir(dir.path().string(), id); }
  // A complete checkpoint (renamed into place: "step-N.pt", not "step-N.pt.tmp").
  bool HasCheckpoint(const std::string& id) {
    std::error_code ec;
    fs::path cks = fs::path(RunDir(id)) / "checkpoints";
    if (!fs::is_directory(cks, ec)) return false;
    for (const auto& entry : fs::directory_iterator(cks, ec)) {
      if (entry.path().extension() == ".pt") return true;
    }
    return false;
  }
};

// Every step 1..steps has exactly one train/loss row.
void CheckLossesComplete(Store& store, const std::string& id, int64_t steps) {
  std::vector<sims::MetricRow> losses = store.Metrics(id, "train/loss");
  CAPTURE(id);
  REQUIRE(static_cast<int64_t>(losses.size()) == steps);
  for (int64_t i = 0; i < steps; ++i) CHECK(losses[i].step == i + 1);
}

pid_t WorkerPid(const sims::RunRow& row) {
  return static_cast<pid_t>(std::stol(row.worker.substr(row.worker.rfind(':') + 1)));
}

}  // namespace

TEST_CASE("sims run trains a sweep with a pool: a run with a missing shard fails, the rest finish",
          "[orchestrator][e2e]") {
  Project p;
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) ids.push_back(p.Add(p.Config(100 + i, 6)));
  sims::RunConfig broken = p.Config(200, 6);
  broken.corpus = p.dir.file("no-such-corpus");
  std::string broken_id = p.Add(broken);

  auto [status, out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--workers", "2",
                             "--heartbeat", "0.5", "--lease", "5"},
                            p.dir.file("run.log"));
  CAPTURE(out);
  CHECK(status == 1);  // some run failed: a user-visible error, with the hint to look
  CHECK_THAT(out, Catch::Contains("3 runs done, 1 failed"));
  Store store = Store::Open(p.db);
  for (const std::string& id : ids) {
    CHECK(store.GetRun(id)->status == sims::RunStatus::kDone);
    CheckLossesComplete(store, id, 6);
  }
  auto failed = store.GetRun(broken_id);
  CHECK(failed->status == sims::RunStatus::kFailed);
  CHECK_THAT(failed->error, Catch::Contains("no-such-corpus"));

  auto [st, json_text] = Sims({"--db", p.db, "status", "--format", "json"}, p.dir.file("st.log"));
  REQUIRE(st == 0);
  nlohmann::json rows = nlohmann::json::parse(json_text);
  REQUIRE(rows.size() == 4);
  int done = 0;
  for (const auto& row : rows) {
    if (row["status"] == "done") {
      ++done;
      CHECK(row["last_loss"].is_number());
      CHECK(row["step"] == 6);
    }
  }
  CHECK(done == 3);
}

TEST_CASE("a worker killed with SIGKILL mid-run: the run is requeued after its lease, resumes "
          "from its checkpoint and finishes with no gap or duplicate in its metrics",
          "[orchestrator][e2e]") {
  Project p;
  const int64_t steps = 400;
  std::string id = p.Add(p.Config(300, steps, /*eval_every=*/20));
  std::string log = p.dir.file("run.log");
  pid_t pool = Spawn({"--db", p.db, "run", "--sweep", "tiny", "--workers", "1", "--heartbeat",
                      "0.3", "--lease", "2", "--worker-log-level", "info"},
                     log);
  // Kill the worker once it has written a checkpoint and before it finishes.
  pid_t victim = 0;
  REQUIRE(WaitUntil(
      [&] {
        if (!p.HasCheckpoint(id)) return false;
        Store store = Store::Open(p.db);
        auto row = store.GetRun(id);
        if (row->status != sims::RunStatus::kRunning || row->worker.empty()) return false;
        victim = WorkerPid(*row);
        return true;
      },
      120));
  REQUIRE(::kill(victim, SIGKILL) == 0);
  int status = Wait(pool);
  std::string out = ReadAll(log);
  CAPTURE(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("lost its worker (lease expired); requeued"));
  CHECK_THAT(out, Catch::Contains("resuming at step"));
  Store store = Store::Open(p.db);
  auto row = store.GetRun(id);
  CHECK(row->status == sims::RunStatus::kDone);
  CHECK(row->attempt == 1);
  CheckLossesComplete(store, id, steps);
}

// The pids of `sims worker --peer` processes (the other ranks a worker started).
std::vector<pid_t> PeerRankPids() {
  std::vector<pid_t> pids;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    const std::string name = entry.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmdline = ReadAll((entry.path() / "cmdline").string());
    std::replace(cmdline.begin(), cmdline.end(), '\0', ' ');
    if (cmdline.find(" worker --peer ") != std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

TEST_CASE("a 2-rank run whose second rank is killed with SIGKILL: the attempt is requeued, "
          "resumes from its checkpoint and finishes with no gap or duplicate in its metrics",
          "[orchestrator][e2e][ranks]") {
  Project p;
  const int64_t steps = 400;
  sims::RunConfig config = p.Config(500, steps, /*eval_every=*/20);
  config.hp.ranks = 2;
  std::string id = p.Add(config);
  std::string log = p.dir.file("run.log");
  pid_t pool = Spawn({"--db", p.db, "run", "--sweep", "tiny", "--workers", "1", "--heartbeat",
                      "0.3", "--lease", "2", "--worker-log-level", "info"},
                     log);
  std::vector<pid_t> peers;
  REQUIRE(WaitUntil(
      [&] {
        if (!p.HasCheckpoint(id)) return false;
        peers = PeerRankPids();
        return peers.size() == 1;
      },
      120));
  REQUIRE(::kill(peers[0], SIGKILL) == 0);
  int status = Wait(pool);
  std::string out = ReadAll(log);
  CAPTURE(out);
  CHECK(status == 0);
  CHECK_THAT(out, Catch::Contains("stopped answering"));
  CHECK_THAT(out, Catch::Contains("resuming at step"));
  Store store = Store::Open(p.db);
  auto row = store.GetRun(id);
  CHECK(row->status == sims::RunStatus::kDone);
  CHECK(row->attempt == 1);
  CheckLossesComplete(store, id, steps);
  CHECK(PeerRankPids().empty());  // every rank was reaped
}

TEST_CASE("killing the orchestrator with SIGKILL: workers release their runs, and the same "
          "command finishes the sweep without rerunning what was done",
          "[orchestrator][e2e]") {
  Project p;
  std::vector<std::string> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(p.Add(p.Config(400 + i, 60, 20)));
  std::vector<std::string> args = {"--db",      p.db,  "run",     "--sweep", "tiny", "--workers",
                                   "2",         "--heartbeat", "0.3", "--lease", "3"};
  pid_t pool = Spawn(args, p.dir.file("run1.log"));
  auto done_count = [&] {
    Store store = Store::Open(p.db);
    return store.ListRuns({"tiny", "", sims::RunStatus::kDone}).size();
  };
  REQUIRE(WaitUntil([&] { return done_count() >= 2; }, 120));
  REQUIRE(::kill(pool, SIGKILL) == 0);
  REQUIRE(Wait(pool) == 128 + SIGKILL);
  // Orphaned workers get SIGTERM (PR_SET_PDEATHSIG): they checkpoint and release.
  REQUIRE(WaitUntil([&] {
    Store store = Store::Open(p.db);
    return store.ListRuns({"tiny", "", sims::RunStatus::kRunning}).empty();
  }, 60));
  std::map<std::string, sims::RunRow> before;
  {
    Store store = Store::Open(p.db);
    for (const auto& r : store.ListRuns({"tiny", "", sims::RunStatus::kDone})) before[r.id] = r;
    for (const auto& r : store.ListRuns({"tiny", "", sims::RunStatus::kPlanned})) CHECK(r.attempt == 0);
  }
  REQUIRE(before.size() >= 2);
  REQUIRE(before.size() < ids.size());

  auto [status, out] = Sims(args, p.dir.file("run2.log"));
  CAPTURE(out);
  CHECK(status == 0);
  Store store = Store::Open(p.db);
  for (const std::string& id : ids) {
    auto row = store.GetRun(id);
    CHECK(row->status == sims::RunStatus::kDone);
    CheckLossesComplete(store, id, 60);
    if (before.count(id)) {  // done before: untouched by the second command
      CHECK(row->finished_at == before[id].finished_at);
      CHECK(row->heartbeat_at == before[id].heartbeat_at);
      CHECK(row->worker == before[id].worker);
    }
  }
}

TEST_CASE("Ctrl-C on sims run: workers checkpoint and release, nothing is left running",
          "[orchestrator][e2e]") {
  Project p;
  std::string id = p.Add(p.Config(500, 400, 20));
  std::string log = p.dir.file("run.log");
  pid_t pool = Spawn({"--db", p.db, "run", "--sweep", "tiny", "--heartbeat", "0.3", "--lease",
                      "3", "--worker-log-level", "info"},
                     log);
  REQUIRE(WaitUntil([&] { return p.HasCheckpoint(id); }, 120));
  bool twice = false;
  SECTION("once: graceful") {}
  SECTION("twice: workers killed, their runs released by the pool") { twice = true; }
  REQUIRE(::kill(pool, SIGINT) == 0);
  if (twice) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    REQUIRE(::kill(pool, SIGINT) == 0);
  }
  int status = Wait(pool);
  std::string out = ReadAll(log);
  CAPTURE(out);
  CHECK(status == 0);
  Store store = Store::Open(p.db);
  auto row = store.GetRun(id);
  if (row->status != sims::RunStatus::kDone) {  // it may just have finished before the signal landed
    CHECK(row->status == sims::RunStatus::kPlanned);
    CHECK(row->attempt == 0);
    CHECK(row->worker.empty());
    if (!twice) {
      CHECK(row->last_step > 0);
      CHECK_THAT(out, Catch::Contains("stopped at step"));
    }
  }
  // Either way the same command finishes the run, resuming from a checkpoint.
  auto [again, text] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--worker-log-level",
                             "info"},
                            p.dir.file("run2.log"));
  CAPTURE(text);
  CHECK(again == 0);
  CHECK(Store::Open(p.db).GetRun(id)->status == sims::RunStatus::kDone);
  CheckLossesComplete(store, id, 400);
}

TEST_CASE("an unwritable project directory: sims run stops with a clear error and changes nothing",
          "[orchestrator][e2e]") {
  Project p;
  std::string id = p.Add(p.Config(600, 4));
  std::ofstream(p.dir.file("runs")) << "a file where the runs directory must go";
  auto [status, out] = Sims({"--db", p.db, "run", "--sweep", "tiny"}, p.dir.file("run.log"));
  CAPTURE(out);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("not writable") && Catch::Contains("database is unchanged"));
  Store store = Store::Open(p.db);
  auto row = store.GetRun(id);
  CHECK(row->status == sims::RunStatus::kPlanned);
  CHECK(row->started_at.empty());
  CHECK(store.Metrics(id).empty());
}

TEST_CASE("planned runs that wait on a run outside the sweep stop sims run with a message",
          "[orchestrator][e2e]") {
  Project p;
  sims::RunConfig other = p.Config(650, 4);
  other.sweep = "other";  // planned in another sweep: this sweep's workers never train it
  std::string dep = p.Add(other);
  sims::RunConfig waiting = p.Config(651, 4);
  waiting.depends_on = {dep};
  std::string id = p.Add(waiting);
  auto [status, out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--heartbeat", "0.3",
                             "--lease", "3"},
                            p.dir.file("run.log"));
  CAPTURE(out);
  CHECK(status == 1);
  CHECK_THAT(out, Catch::Contains("1 planned runs cannot be claimed"));
  CHECK(Store::Open(p.db).GetRun(id)->status == sims::RunStatus::kPlanned);
}

TEST_CASE("sims runs cancel, retry and reset change exactly the runs named", "[orchestrator]") {
  Project p;
  std::string a = p.Add(p.Config(700, 4));
  std::string b = p.Add(p.Config(701, 4));
  std::string log = p.dir.file("runs.log");
  // Without --yes and without a terminal to ask on: refused, nothing changed.
  auto [refused, msg] = Sims({"--db", p.db, "runs", "cancel", a}, log);
  CHECK(refused == 1);
  CHECK_THAT(msg, Catch::Contains("--yes"));
  CHECK(Store::Open(p.db).GetRun(a)->status == sims::RunStatus::kPlanned);

  CHECK(Sims({"--db", p.db, "runs", "cancel", a, "--yes"}, log).first == 0);
  {
    Store store = Store::Open(p.db);
    CHECK(store.GetRun(a)->status == sims::RunStatus::kFailed);
    CHECK(store.GetRun(a)->error == "cancelled by user");
    CHECK(store.GetRun(b)->status == sims::RunStatus::kPlanned);
  }
  CHECK(Sims({"--db", p.db, "runs", "retry", "--failed", "--yes"}, log).first == 0);
  CHECK(Store::Open(p.db).GetRun(a)->status == sims::RunStatus::kPlanned);

  fs::create_directories(fs::path(p.RunDir(b)) / "checkpoints");
  {
    Store store = Store::Open(p.db);
    store.InsertMetrics({{b, 1, 256, "train/loss", 5.0}});
  }
  CHECK(Sims({"--db", p.db, "runs", "reset", b, "-y"}, log).first == 0);
  Store store = Store::Open(p.db);
  CHECK(store.Metrics(b).empty());
  CHECK_FALSE(fs::exists(p.RunDir(b)));
  auto [missing, text] = Sims({"--db", p.db, "runs", "reset", "nosuchrun", "-y"}, log);
  CHECK(missing == 1);
  CHECK_THAT(text, Catch::Contains("run nosuchrun: not in database"));
}

namespace {

sims::EventSummary Events(Project& p, const std::string& id) {
  std::string path = sims::EventsPath(p.RunDir(id));
  if (!fs::exists(path)) return {};
  return sims::SummarizeEvents(id, sims::ReadEvents(path));
}

}  // namespace

TEST_CASE("on a real single-node Slurm every run completes exactly once, a requeued task "
          "resumes from its checkpoint, a text-LM run goes first and a cancelled run's task is "
          "scancelled",
          "[orchestrator][slurm]") {
  Project p;
  sims::testing::SlurmEnv slurm(p.dir.file("slurm"));
  // Level 0: a text LM and a long run to requeue; level 1: a run starting from the text LM.
  sims::RunConfig text_lm = p.Config(800, 6);
  text_lm.condition = "text-lm";
  text_lm.mixture = {.text = 1, .speech = 0, .interleaved = 0};
  std::string lm = p.Add(text_lm);
  const int64_t long_steps = 2000;  // far more steps than pass before the requeue lands
  std::string requeued = p.Add(p.Config(801, long_steps, 20));
  sims::RunConfig from_lm = p.Config(802, 6);
  from_lm.init.kind = sims::InitKind::kTextLm;
  from_lm.init.run_id = lm;
  from_lm.depends_on = {lm};
  std::string child = p.Add(from_lm);
  std::string cancelled = p.Add(p.Config(803, 100000, 50));  // would run for hours

  auto [status, out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--backend", "slurm",
                             "--device", "cpu", "--heartbeat", "0.5"},
                            p.dir.file("submit.log"));
  CAPTURE(out);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("4 runs submitted in 2 job arrays"));
  // The level-1 array waits for the text LM's task only, not for the whole level-0 array.
  std::string lm_task = ReadAll(fs::path(p.RunDir(lm)) / "slurm_job");
  lm_task.erase(lm_task.find_last_not_of("\n ") + 1);
  CHECK_THAT(out, Catch::Contains("level 1, after " + lm_task + ")"));

  // Cancel the endless run once its task trains: the database says so and Slurm drops the task.
  REQUIRE(WaitUntil([&] { return !Events(p, cancelled).metrics.empty(); }, 120));
  std::string cancelled_task = ReadAll(fs::path(p.RunDir(cancelled)) / "slurm_job");
  cancelled_task.erase(cancelled_task.find_last_not_of("\n ") + 1);
  auto [cancel_status, cancel_out] =
      Sims({"--db", p.db, "runs", "cancel", "--yes", cancelled}, p.dir.file("cancel.log"));
  CAPTURE(cancel_out);
  REQUIRE(cancel_status == 0);
  CHECK_THAT(cancel_out, Catch::Contains("scancel " + cancelled_task));
  CHECK(WaitUntil([&] { return sims::LiveSlurmJobs({cancelled_task}).empty(); }, 60));

  // Requeue the long task once it has a checkpoint (Slurm sends SIGTERM; the worker saves and
  // stops; Slurm starts it again after cred_expire).
  // Metric lines, not progress events: the worker reports progress only every heartbeat, and on
  // an idle machine the whole run can finish within one heartbeat.
  REQUIRE(WaitUntil(
      [&] { return p.HasCheckpoint(requeued) && !Events(p, requeued).metrics.empty(); }, 120));
  REQUIRE(Events(p, requeued).done_events == 0);  // still running when it is requeued
  std::string task = ReadAll(fs::path(p.RunDir(requeued)) / "slurm_job");
  task.erase(task.find_last_not_of("\n ") + 1);
  REQUIRE(std::system(("scontrol requeue " + task).c_str()) == 0);

  // Follow it as a user would: the same command again with --watch submits nothing (every
  // unfinished run is in a live job) and ingests until the sweep ends.
  auto [watched, watch_out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--backend", "slurm",
                                    "--device", "cpu", "--watch"},
                                   p.dir.file("watch.log"));
  CAPTURE(watch_out);
  REQUIRE(watched == 0);
  CHECK_THAT(watch_out, Catch::Contains("0 runs submitted"));
  Store store = Store::Open(p.db);
  for (const std::string& id : {lm, requeued, child}) {
    CAPTURE(id, store.GetRun(id)->error);
    CHECK(store.GetRun(id)->status == sims::RunStatus::kDone);
    CHECK(Events(p, id).done_events == 1);
  }
  CHECK(store.GetRun(cancelled)->status == sims::RunStatus::kFailed);
  CHECK(store.GetRun(cancelled)->error == "cancelled by user");
  // Its progress is the last step its events report, so it agrees with its last loss.
  int64_t last_loss_step = 0;
  for (const sims::MetricRow& m : store.Metrics(cancelled, "train/loss")) {
    last_loss_step = std::max(last_loss_step, m.step);
  }
  CHECK(last_loss_step > 0);
  CHECK(store.GetRun(cancelled)->last_step >= last_loss_step);
  CHECK(store.GetRun(cancelled)->last_step == Events(p, cancelled).step);
  // The requeued task started again as Slurm's attempt 1, and the store says so too.
  CHECK(Events(p, requeued).attempt == 1);
  CHECK(store.GetRun(requeued)->attempt == 1);
  CHECK(Events(p, cancelled).done_events == 0);
  CheckLossesComplete(store, requeued, long_steps);
  CheckLossesComplete(store, child, 6);
  int starts = 0, stops = 0;
  for (const sims::Event& e : sims::ReadEvents(sims::EventsPath(p.RunDir(requeued)))) {
    starts += e.kind == sims::EventKind::kStart;
    stops += e.kind == sims::EventKind::kStopped;
  }
  CHECK(starts == 2);  // the first attempt and the requeued one
  CHECK(stops == 1);
  // Ingesting again changes nothing.
  auto [again, text] = Sims({"--db", p.db, "ingest"}, p.dir.file("ingest.log"));
  CHECK(again == 0);
  CHECK_THAT(text, Catch::Contains("0 metrics and 0 evals new"));
}

TEST_CASE("on a real single-node Slurm a run of 2 ranks is one job of two tasks started by srun, "
          "survives scontrol requeue, and finishes once",
          "[orchestrator][slurm][ranks]") {
  Project p;
  sims::testing::SlurmEnv slurm(p.dir.file("slurm"));
  const int64_t steps = 1500;  // far more steps than pass before the requeue lands
  sims::RunConfig config = p.Config(900, steps, 20);
  config.hp.ranks = 2;
  std::string id = p.Add(config);

  auto [status, out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--backend", "slurm",
                             "--device", "cpu", "--heartbeat", "0.5"},
                            p.dir.file("submit.log"));
  CAPTURE(out);
  REQUIRE(status == 0);
  CHECK_THAT(out, Catch::Contains("2 ranks each"));
  std::string task = ReadAll(fs::path(p.RunDir(id)) / "slurm_job");
  task.erase(task.find_last_not_of("\n ") + 1);
  REQUIRE(WaitUntil(
      [&] { return p.HasCheckpoint(id) && !Events(p, id).metrics.empty(); }, 120));
  REQUIRE(Events(p, id).done_events == 0);  // still running when it is requeued
  const std::string job = sims::RunCommand({"scontrol", "show", "job", task}).out;
  CAPTURE(job);
  CHECK_THAT(job, Catch::Contains("NumTasks=2"));
  REQUIRE(std::system(("scontrol requeue " + task).c_str()) == 0);

  auto [watched, watch_out] = Sims({"--db", p.db, "run", "--sweep", "tiny", "--backend", "slurm",
                                    "--device", "cpu", "--watch"},
                                   p.dir.file("watch.log"));
  CAPTURE(watch_out);
  REQUIRE(watched == 0);
  Store store = Store::Open(p.db);
  CAPTURE(store.GetRun(id)->error);
  CHECK(store.GetRun(id)->status == sims::RunStatus::kDone);
  CHECK(Events(p, id).done_events == 1);
  CHECK(Events(p, id).attempt == 1);
  CheckLossesComplete(store, id, steps);
  int starts = 0;  // rank 0 alone writes events: one start per attempt
  for (const sims::Event& e : sims::ReadEvents(sims::EventsPath(p.RunDir(id)))) {
    starts += e.kind == sims::EventKind::kStart;
  }
  CHECK(starts == 2);
}
