#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <fstream>
#include <iterator>

#include <SQLiteCpp/SQLiteCpp.h>
#include <catch2/catch.hpp>

#include "common/error.h"
#include "results/store.h"
#include "tests/test_support.h"

using sims::NewRun;
using sims::Store;

namespace {

NewRun MakeRun(const std::string& id, std::vector<std::string> deps = {}) {
  NewRun r;
  r.id = id;
  r.condition = "textless";
  r.n_params = 1000;
  r.n_params_non_embedding = 800;
  r.tokens = 20000;
  r.steps = 10;
  r.flops = 6.0 * 1000 * 20000;
  r.flops_per_token = 6.0 * 1000;
  r.config_json = "{}";
  r.depends_on = std::move(deps);
  return r;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST_CASE("opening a new file migrates it to the current schema", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  CHECK(store.SchemaVersion() == sims::kSchemaVersion);
  // Opening again is a no-op migration.
  Store again = Store::Open(dir.file("sims.db"));
  CHECK(again.SchemaVersion() == sims::kSchemaVersion);
}

TEST_CASE("a file that is not an SQLite database is refused and left untouched", "[results]") {
  sims::testing::TempDir dir;
  std::string path = dir.file("notes.db");
  std::string content = "this is a text file, not a database\n" + std::string(5000, 'x');
  std::ofstream(path, std::ios::binary) << content;
  REQUIRE_THROWS_WITH(Store::Open(path), Catch::Contains("cannot be read as an SQLite database"));
  CHECK(ReadBytes(path) == content);
}

TEST_CASE("a truncated database is refused and left untouched", "[results]") {
  sims::testing::TempDir dir;
  std::string path = dir.file("sims.db");
  {
    Store store = Store::Open(path);
    int64_t sweep = store.UpsertSweep("s", "");
    std::vector<NewRun> runs;
    for (int i = 0; i < 200; ++i) runs.push_back(MakeRun("run" + std::to_string(i)));
    store.InsertRuns(sweep, runs);
    SQLite::Database(path, SQLite::OPEN_READWRITE).exec("PRAGMA wal_checkpoint(TRUNCATE)");
  }
  std::string bytes = ReadBytes(path);
  REQUIRE(bytes.size() > 8192);
  std::string truncated = bytes.substr(0, 1500);  // keeps the header, loses the pages
  std::ofstream(path, std::ios::binary | std::ios::trunc) << truncated;
  std::filesystem::remove(path + "-wal");
  std::filesystem::remove(path + "-shm");
  CHECK_THROWS_AS(Store::Open(path), sims::UserError);
  CHECK(ReadBytes(path) == truncated);
}

TEST_CASE("a database from a newer sims is refused", "[results]") {
  sims::testing::TempDir dir;
  std::string path = dir.file("sims.db");
  Store::Open(path);
  SQLite::Database(path, SQLite::OPEN_READWRITE)
      .exec("INSERT INTO schema_version(version) VALUES (99)");
  REQUIRE_THROWS_WITH(Store::Open(path), Catch::Contains("schema version 99 is newer"));
}

TEST_CASE("inserting the same metric twice keeps one row", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a")});
  std::vector<sims::MetricRow> rows = {{"a", 1, 100, "train/loss", 3.5},
                                       {"a", 2, 200, "train/loss", 3.0}};
  CHECK(store.InsertMetrics(rows) == 2);
  rows[0].value = 99;  // a replay of step 1 must not overwrite the first value
  CHECK(store.InsertMetrics(rows) == 0);
  auto stored = store.Metrics("a", "train/loss");
  REQUIRE(stored.size() == 2);
  CHECK(stored[0].value == 3.5);
}

TEST_CASE("the last value of a metric is the one at each run's highest step", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a"), MakeRun("b"), MakeRun("c")});
  // Inserted out of step order; "val/loss" at a later step must not count for "train/loss".
  store.InsertMetrics({{"a", 4, 400, "train/loss", 3.0},
                       {"a", 2, 200, "train/loss", 4.0},
                       {"a", 9, 900, "val/loss", 2.5},
                       {"b", 1, 100, "train/loss", 5.5},
                       {"c", 3, 300, "val/loss", 1.0}});
  std::map<std::string, double> last = store.LastMetricValues("train/loss");
  CHECK(last == std::map<std::string, double>{{"a", 3.0}, {"b", 5.5}});
  CHECK(store.LastMetricValues("val/loss") == std::map<std::string, double>{{"a", 2.5}, {"c", 1.0}});
}

TEST_CASE("the database named on an SQLite error is the one opened last, not --db", "[results]") {
  sims::testing::TempDir dir;
  Store::Open(dir.file("first.db"));
  Store::Open(dir.file("second.db"));
  CHECK(sims::LastOpenedDatabase() == dir.file("second.db"));
  // A refused file was still the one opened: its error names it.
  std::ofstream(dir.file("junk.db"), std::ios::binary) << std::string(4096, 'x');
  CHECK_THROWS(Store::Open(dir.file("junk.db")));
  CHECK(sims::LastOpenedDatabase() == dir.file("junk.db"));
}

TEST_CASE("a table dump keeps each column's type and SQLite's text, limited to a sweep",
          "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a")});
  store.InsertRuns(store.UpsertSweep("t", ""), {MakeRun("b")});
  store.InsertMetrics({{"a", 1, 100, "train/loss", 3.25}, {"b", 1, 100, "train/loss", 7.5}});
  sims::TableDump metrics = store.DumpTable(sims::StoredTable::kMetrics, "s");
  REQUIRE(metrics.rows.size() == 1);
  auto column = [&](const std::string& name) {
    auto it = std::find(metrics.columns.begin(), metrics.columns.end(), name);
    REQUIRE(it != metrics.columns.end());
    return metrics.rows[0][size_t(it - metrics.columns.begin())];
  };
  CHECK(column("run_id").kind == sims::TableCell::Kind::kText);
  CHECK(column("run_id").text == "a");
  CHECK(column("step").kind == sims::TableCell::Kind::kInteger);
  CHECK(column("tokens").integer == 100);
  CHECK(column("value").kind == sims::TableCell::Kind::kReal);
  CHECK(column("value").real == 3.25);
  CHECK(column("value").text == "3.25");
  CHECK(store.DumpTable(sims::StoredTable::kMetrics).rows.size() == 2);

  sims::TableDump runs = store.DumpTable(sims::StoredTable::kRuns, "t");
  REQUIRE(runs.rows.size() == 1);
  CHECK(runs.columns.front() == "id");
  CHECK(runs.columns.back() == "sweep");
  CHECK(runs.rows[0].back().text == "t");
  // started_at of a planned run is NULL: no value, empty text.
  auto started = std::find(runs.columns.begin(), runs.columns.end(), "started_at");
  REQUIRE(started != runs.columns.end());
  CHECK(runs.rows[0][size_t(started - runs.columns.begin())].kind == sims::TableCell::Kind::kNull);
  CHECK(store.DumpTable(sims::StoredTable::kSweeps).rows.size() == 2);
}

TEST_CASE("re-inserting planned runs inserts nothing", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  int64_t sweep = store.UpsertSweep("s", "spec");
  CHECK(store.UpsertSweep("s", "other spec") == sweep);
  CHECK(store.InsertRuns(sweep, {MakeRun("a"), MakeRun("b", {"a"})}) == 2);
  CHECK(store.InsertRuns(sweep, {MakeRun("a"), MakeRun("b", {"a"}), MakeRun("c")}) == 1);
  CHECK(store.ListRuns().size() == 3);
  CHECK(store.Dependencies("b") == std::vector<std::string>{"a"});
}

TEST_CASE("the run lifecycle follows the state diagram", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  int64_t sweep = store.UpsertSweep("s", "");
  store.InsertRuns(sweep, {MakeRun("lm"), MakeRun("child", {"lm"})});

  SECTION("a run waits for its dependency") {
    auto first = store.ClaimRun("w1", 100, 30);
    REQUIRE(first);
    CHECK(first->id == "lm");
    CHECK(first->status == sims::RunStatus::kRunning);
    CHECK_FALSE(store.ClaimRun("w2", 100, 30));  // child's dependency is not done
    CHECK(store.FinishRun("lm", "w1", 110));
    auto second = store.ClaimRun("w2", 111, 30);
    REQUIRE(second);
    CHECK(second->id == "child");
  }
  SECTION("an expired lease requeues with attempt + 1, then fails at the limit") {
    REQUIRE(store.ClaimRun("w1", 100, 30));
    CHECK(store.RequeueExpired(120, 2).empty());  // lease still valid
    CHECK(store.RequeueExpired(131, 2) == std::vector<std::string>{"lm"});
    auto run = store.GetRun("lm");
    CHECK(run->status == sims::RunStatus::kPlanned);
    CHECK(run->attempt == 1);
    CHECK_FALSE(store.Heartbeat("lm", "w1", 132, 30, 5));  // w1 lost the run
    REQUIRE(store.ClaimRun("w2", 140, 30));
    CHECK(store.RequeueExpired(200, 2) == std::vector<std::string>{"lm"});
    run = store.GetRun("lm");
    CHECK(run->status == sims::RunStatus::kFailed);
    CHECK(run->attempt == 2);
    CHECK_THAT(run->error, Catch::Contains("lease expired"));
    SECTION("and the dependent run fails naming its dependency") {
      CHECK(store.FailOrphans() == std::vector<std::string>{"child"});
      CHECK_THAT(store.GetRun("child")->error, Catch::Contains("dependency lm failed"));
      CHECK(store.RetryRun("lm"));
      CHECK(store.GetRun("lm")->status == sims::RunStatus::kPlanned);
      CHECK(store.GetRun("lm")->attempt == 0);
    }
  }
  SECTION("heartbeat renews the lease and records progress") {
    REQUIRE(store.ClaimRun("w1", 100, 30));
    CHECK(store.Heartbeat("lm", "w1", 125, 30, 7));
    CHECK(store.RequeueExpired(140, 3).empty());
    CHECK(store.GetRun("lm")->last_step == 7);
    CHECK_FALSE(store.FinishRun("lm", "someone-else", 150));
    CHECK(store.FinishRun("lm", "w1", 150));
    CHECK(store.GetRun("lm")->status == sims::RunStatus::kDone);
  }
  SECTION("release puts a run back without counting an attempt") {
    REQUIRE(store.ClaimRun("w1", 100, 30));
    CHECK(store.ReleaseRun("lm", "w1"));
    CHECK(store.GetRun("lm")->status == sims::RunStatus::kPlanned);
    CHECK(store.GetRun("lm")->attempt == 0);
  }
  SECTION("a failed run keeps its error; reset clears metrics") {
    REQUIRE(store.ClaimRun("w1", 100, 30));
    store.InsertMetrics({{"lm", 1, 10, "train/loss", 2.0}});
    CHECK(store.FailRun("lm", "w1", 101, "loss is NaN at step 1"));
    CHECK(store.GetRun("lm")->error == "loss is NaN at step 1");
    CHECK(store.ResetRun("lm"));
    CHECK(store.Metrics("lm").empty());
    CHECK(store.GetRun("lm")->status == sims::RunStatus::kPlanned);
  }
  SECTION("cancel fails planned runs") {
    CHECK(store.CancelRun("child", 100));
    CHECK(store.GetRun("child")->error == "cancelled by user");
    CHECK_FALSE(store.CancelRun("child", 100));
  }
}

TEST_CASE("four processes writing metrics at once lose nothing", "[results]") {
  sims::testing::TempDir dir;
  std::string path = dir.file("sims.db");
  {
    Store store = Store::Open(path);
    store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a")});
  }
  constexpr int kWriters = 4, kRows = 1000;
  std::vector<pid_t> children;
  for (int w = 0; w < kWriters; ++w) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      int code = 0;
      try {
        Store store = Store::Open(path);
        for (int i = 0; i < kRows; ++i) {
          // One transaction per row: the most lock traffic a worker can make.
          std::string name = "writer";
          name += std::to_string(w);
          store.InsertMetrics({{"a", i, i * 10, name, double(i)}});
        }
      } catch (...) {
        code = 1;
      }
      _exit(code);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
  Store store = Store::Open(path);
  CHECK(store.Metrics("a").size() == size_t(kWriters * kRows));
}

TEST_CASE("another program's SQLite file is refused and left byte-identical", "[results]") {
  sims::testing::TempDir dir;
  const std::string path = dir.file("foreign.db");
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE runs (id INTEGER PRIMARY KEY, note TEXT); INSERT INTO runs(note) VALUES ('mine')");
  }
  const std::string before = ReadBytes(path);
  CHECK_THROWS_WITH(Store::Open(path), Catch::Contains("another program") && Catch::Contains("not modified"));
  CHECK(ReadBytes(path) == before);
  CHECK_FALSE(std::filesystem::exists(path + "-wal"));
}

TEST_CASE("opening a missing database for reading refuses instead of creating it", "[results]") {
  sims::testing::TempDir dir;
  const std::string path = dir.file("typo.db");
  CHECK_THROWS_WITH(Store::Open(path, sims::OpenMode::kExisting), Catch::Contains("does not exist"));
  CHECK_FALSE(std::filesystem::exists(path));
  Store::Open(path, sims::OpenMode::kCreate);
  CHECK(std::filesystem::exists(path));
  CHECK_NOTHROW(Store::Open(path, sims::OpenMode::kExisting));
}

TEST_CASE("a run whose tokens, steps, FLOPs and budget disagree is refused with the batch", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  const int64_t sweep = store.UpsertSweep("s", "", sims::SweepFacts{sims::SweepFlops::kExact, false, "{}"});
  NewRun good = MakeRun("good");  // 20000 tokens in 10 steps at 6000 FLOPs per token
  good.budget_flops = good.flops;
  SECTION("tokens not a whole number of steps") {
    NewRun bad = MakeRun("bad");
    bad.tokens = 20001;
    bad.flops = 6000.0 * 20001;
    CHECK_THROWS_WITH(store.InsertRuns(sweep, {good, bad}), Catch::Contains("run bad") && Catch::Contains("whole number of steps"));
  }
  SECTION("FLOPs that are not FLOPs per token times tokens") {
    NewRun bad = MakeRun("bad");
    bad.flops_per_token = 18000;  // a 3 x 6ND convention for 6ND FLOPs
    CHECK_THROWS_WITH(store.InsertRuns(sweep, {good, bad}), Catch::Contains("flops_per_token x tokens"));
  }
  SECTION("FLOPs more than one step away from the budget") {
    NewRun bad = MakeRun("bad");
    bad.budget_flops = 3 * bad.flops;
    CHECK_THROWS_WITH(store.InsertRuns(sweep, {good, bad}), Catch::Contains("more than one step"));
  }
  SECTION("a config that is not a JSON object") {
    NewRun bad = MakeRun("bad");
    bad.config_json = "[1, 2]";
    CHECK_THROWS_WITH(store.InsertRuns(sweep, {good, bad}),
                      Catch::Contains("run bad") && Catch::Contains("config_json is not a JSON object"));
  }
  SECTION("a run that depends on itself (it could never be claimed)") {
    NewRun bad = MakeRun("bad", {"bad"});
    CHECK_THROWS_WITH(store.InsertRuns(sweep, {good, bad}),
                      Catch::Contains("run bad") && Catch::Contains("depends on itself"));
  }
  CHECK(store.ListRuns().empty());  // nothing of the batch, not even the good run
  CHECK(store.InsertRuns(sweep, {good}) == 1);
  const auto row = store.GetRun("good");
  REQUIRE(row);
  CHECK(row->budget_flops == good.flops);
  CHECK(row->flops_per_token == 6000);
  CHECK(store.FindSweep("s")->facts == sims::SweepFacts{sims::SweepFlops::kExact, false, "{}"});
}

TEST_CASE("a sweep whose facts break S1 is refused and not stored", "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  // The convention is typed: a wrong name cannot reach the store, it is refused as it is read.
  CHECK_THROWS_WITH(sims::SweepFlopsFromString("6nd"),
                    "'6nd' is not a sweep FLOP convention; expected one of imported, 6ND, "
                    "6ND+attn, exact");
  CHECK(sims::PlannerConvention(sims::SweepFlopsFromString("6ND+attn")) ==
        sims::FlopConvention::k6NDAttn);
  CHECK_FALSE(sims::PlannerConvention(sims::SweepFlops::kImported));
  CHECK_THROWS_WITH(store.UpsertSweep("s", "", sims::SweepFacts{sims::SweepFlops::kExact, false, "not json"}),
                    "sweep s: planner_json is not a JSON object");
  CHECK(store.ListSweeps().empty());
}

TEST_CASE("a version-2 database migrates keeping its runs, and gains the proposals table",
          "[results]") {
  sims::testing::TempDir dir;
  const std::string path = dir.file("sims.db");
  {
    Store store = Store::Open(path);
    store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a")});
  }
  // Migration 2 -> 3 only adds the table, so dropping it and its version row gives exactly the
  // file a version-2 sims wrote.
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("DROP TABLE proposals; DELETE FROM schema_version WHERE version >= 3");
    REQUIRE(db.execAndGet("SELECT MAX(version) FROM schema_version").getInt() == 2);
  }
  Store store = Store::Open(path);
  CHECK(store.SchemaVersion() == sims::kSchemaVersion);
  CHECK(store.GetRun("a"));
  CHECK(store.NextProposalRound("s") == 1);
  CHECK(store.RecordProposals({{"a", "textless", 1, 7, 1e12, 0.25, 0.5, "", ""}}) == 1);
}

TEST_CASE("a version-3 database migrates to 4: its proposals were each condition's own",
          "[results]") {
  sims::testing::TempDir dir;
  const std::string path = dir.file("sims.db");
  {
    Store store = Store::Open(path);
    store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a"), MakeRun("b")});
  }
  // Migration 3 -> 4 only adds the column: dropping it and its version row, then recording a
  // proposal as a version-3 sims did, gives the file it wrote.
  {
    SQLite::Database db(path, SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE proposals DROP COLUMN compared_with; "
            "DELETE FROM schema_version WHERE version = 4; "
            "INSERT INTO proposals(run_id, condition, round, seed, target_budget, gain, "
            "n_opt_sd_before) VALUES ('a', 'textless', 1, '7', 1e12, 0.25, 0.5)");
    REQUIRE(db.execAndGet("SELECT MAX(version) FROM schema_version").getInt() == 3);
  }
  Store store = Store::Open(path);
  CHECK(store.SchemaVersion() == 4);
  CHECK(store.RecordProposals({{"b", "textless", 2, 8, 1e12, 0.5, 0.4, "", "interleaved"}}) == 1);
  const std::vector<sims::ProposalRow> rows = store.Proposals("s");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].run_id == "a");
  CHECK(rows[0].compared_with.empty());
  CHECK(rows[0].gain == 0.25);
  CHECK(rows[1].compared_with == "interleaved");
  CHECK_THROWS_WITH(store.RecordProposals({{"a", "textless", 3, 8, 1e12, 0.5, 0.4, "", "textless"}}),
                    Catch::Contains("a condition compared with itself"));
}

TEST_CASE("proposals keep the round a run was first proposed in, with its 64-bit seed",
          "[results]") {
  sims::testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  store.InsertRuns(store.UpsertSweep("s", ""), {MakeRun("a"), MakeRun("b"), MakeRun("c")});
  store.InsertRuns(store.UpsertSweep("t", ""), {MakeRun("other")});
  const uint64_t big_seed = 18446744073709551557ull;  // above INT64_MAX: why the column is TEXT
  CHECK(store.NextProposalRound("s") == 1);
  CHECK(store.RecordProposals({{"b", "textless", 1, big_seed, 1e13, 0.4, 0.7, "", ""},
                               {"a", "textless", 1, big_seed, 1e13, 0.1, 0.7, "", ""}}) == 2);
  CHECK(store.NextProposalRound("s") == 2);
  CHECK(store.NextProposalRound("t") == 1);  // rounds are per sweep
  // Round 2 proposes b again (kept in round 1) and c.
  CHECK(store.RecordProposals({{"b", "textless", 2, 5, 1e13, 0.3, 0.4, "", ""},
                               {"c", "textless", 2, 5, 1e13, 0.2, 0.4, "", ""}}) == 1);
  const std::vector<sims::ProposalRow> rows = store.Proposals("s");
  REQUIRE(rows.size() == 3);
  CHECK(rows[0].run_id == "b");  // within a round, in the order they were chosen
  CHECK(rows[0].round == 1);
  CHECK(rows[0].seed == big_seed);
  CHECK(rows[0].gain == 0.4);
  CHECK(rows[0].n_opt_sd_before == 0.7);
  CHECK(rows[0].target_budget == 1e13);
  CHECK_FALSE(rows[0].proposed_at.empty());
  CHECK(rows[1].run_id == "a");
  CHECK(rows[2].run_id == "c");
  CHECK(rows[2].round == 2);
  CHECK(store.Proposals("t").empty());
  // Exported as stored: the seed as its decimal text.
  sims::TableDump dump = store.DumpTable(sims::StoredTable::kProposals, "s");
  REQUIRE(dump.rows.size() == 3);
  auto seed = std::find(dump.columns.begin(), dump.columns.end(), "seed");
  REQUIRE(seed != dump.columns.end());
  CHECK(dump.rows[0][size_t(seed - dump.columns.begin())].text == "18446744073709551557");

  SECTION("a proposal of a run that is not there is refused with its batch") {
    CHECK_THROWS_WITH(store.RecordProposals({{"other", "textless", 3, 1, 1e13, 0.1, 0.4, "", ""},
                                             {"nope", "textless", 3, 1, 1e13, 0.1, 0.4, "", ""}}),
                      Catch::Contains("proposal of run nope") && Catch::Contains("no such run") &&
                          Catch::Contains("nothing of this batch"));
    CHECK(store.Proposals("t").empty());
  }
  SECTION("a proposal must name the run's condition and a round from 1") {
    CHECK_THROWS_WITH(
        store.RecordProposals({{"other", "interleaved", 1, 1, 1e13, 0.1, 0.4, "", ""}}),
        Catch::Contains("condition interleaved but the run is of condition textless"));
    CHECK_THROWS_WITH(store.RecordProposals({{"other", "textless", 0, 1, 1e13, 0.1, 0.4, "", ""}}),
                      Catch::Contains("round must be >= 1"));
  }
}
