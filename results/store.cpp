#include "results/store.h"

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <mutex>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/enum_names.h"
#include "common/error.h"

namespace sims {
namespace {

constexpr EnumNames<RunStatus, 4> kRunStatusNames{{{RunStatus::kPlanned, "planned"},
                                                   {RunStatus::kRunning, "running"},
                                                   {RunStatus::kDone, "done"},
                                                   {RunStatus::kFailed, "failed"}}};

// Migration i takes a database from schema version i to i+1. Append only; never edit one that
// has shipped.
const char* const kMigrations[] = {
    // 0 -> 1: the initial schema.
    R"sql(
CREATE TABLE sweeps (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  spec_toml TEXT NOT NULL,
  created_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE runs (
  id TEXT PRIMARY KEY,
  sweep_id INTEGER NOT NULL REFERENCES sweeps(id),
  condition TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'planned'
    CHECK (status IN ('planned', 'running', 'done', 'failed')),
  attempt INTEGER NOT NULL DEFAULT 0,
  worker TEXT,
  lease_until REAL,
  heartbeat_at REAL,
  n_params INTEGER NOT NULL,
  n_params_non_embedding INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  steps INTEGER NOT NULL,
  step INTEGER NOT NULL DEFAULT 0,
  flops REAL NOT NULL,
  config_json TEXT NOT NULL,
  error TEXT,
  created_at TEXT NOT NULL DEFAULT (datetime('now')),
  started_at TEXT,
  finished_at TEXT
);
CREATE INDEX runs_by_status ON runs(status, sweep_id);
CREATE TABLE run_deps (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  depends_on TEXT NOT NULL REFERENCES runs(id),
  PRIMARY KEY (run_id, depends_on)
);
CREATE TABLE metrics (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  tokens INTEGER NOT NULL,
  name TEXT NOT NULL,
  value REAL NOT NULL,
  UNIQUE (run_id, step, name)
);
CREATE TABLE evals (
  run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  step INTEGER NOT NULL,
  task TEXT NOT NULL,
  accuracy REAL NOT NULL,
  n_pairs INTEGER NOT NULL,
  UNIQUE (run_id, step, task)
);
CREATE TABLE fits (
  id INTEGER PRIMARY KEY,
  created_at TEXT NOT NULL DEFAULT (datetime('now')),
  kind TEXT NOT NULL,
  condition TEXT NOT NULL,
  inputs_json TEXT NOT NULL,
  result_json TEXT NOT NULL
);
)sql",
    // 1 -> 2: the planner's decisions as typed columns (issue: one cost model end to end).
    // Old runs get their budget from config_json and their FLOPs per token from flops/tokens;
    // old sweeps keep an empty convention (fitting then prices N from the runs' own C/D).
    R"sql(
ALTER TABLE sweeps ADD COLUMN flops_convention TEXT NOT NULL DEFAULT '';
ALTER TABLE sweeps ADD COLUMN n_includes_embedding INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sweeps ADD COLUMN planner_json TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN budget_flops REAL NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN flops_per_token REAL NOT NULL DEFAULT 0;
UPDATE runs SET
  budget_flops = COALESCE(CASE WHEN json_valid(config_json)
                               THEN json_extract(config_json, '$.budget_flops') END, 0),
  flops_per_token = CASE WHEN tokens > 0 THEN flops / tokens ELSE 0 END;
)sql",
    // 2 -> 3: which runs the adaptive design proposed, in which round, from which bootstrap
    // seed (issue 19), so a report can say where each run came from. The seed is TEXT: a
    // ConditionSeed uses all 64 bits and SQLite's INTEGER is signed.
    R"sql(
CREATE TABLE proposals (
  run_id TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
  condition TEXT NOT NULL,
  round INTEGER NOT NULL CHECK (round >= 1),
  seed TEXT NOT NULL,
  target_budget REAL NOT NULL,
  gain REAL NOT NULL,
  n_opt_sd_before REAL NOT NULL,
  proposed_at TEXT NOT NULL DEFAULT (datetime('now'))
);
)sql",
    // 3 -> 4: a proposal of `suggest --compare` (or `run --adaptive --compare`) names the other
    // condition, whose loss gap with this one was the target; '' for the condition's own N_opt
    // and optimal loss, which is what every proposal stored before was chosen for.
    R"sql(
ALTER TABLE proposals ADD COLUMN compared_with TEXT NOT NULL DEFAULT '';
)sql",
};
constexpr int kMigrationCount = sizeof(kMigrations) / sizeof(kMigrations[0]);
static_assert(kMigrationCount == kSchemaVersion);

// BEGIN IMMEDIATE takes the write lock up front, so the busy timeout applies; a deferred
// transaction that upgrades from read to write can fail with SQLITE_BUSY at once instead.
class WriteTransaction {
 public:
  explicit WriteTransaction(SQLite::Database& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  void Commit() {
    db_.exec("COMMIT");
    open_ = false;
  }
  ~WriteTransaction() {
    if (!open_) return;
    // Rollback failing means the connection is already unusable; the next call will report
    // it, and a destructor must not throw.
    try {
      db_.exec("ROLLBACK");
    } catch (...) {
    }
  }

 private:
  SQLite::Database& db_;
  bool open_ = true;
};

std::string ColumnText(SQLite::Statement& st, const char* name) {
  auto c = st.getColumn(name);
  return c.isNull() ? std::string() : c.getString();
}
double ColumnDouble(SQLite::Statement& st, const char* name) {
  auto c = st.getColumn(name);
  return c.isNull() ? 0.0 : c.getDouble();
}

const char* const kRunColumns =
    "r.id, r.sweep_id, s.name AS sweep, r.condition, r.status, r.attempt, r.worker, "
    "r.lease_until, r.heartbeat_at, r.n_params, r.n_params_non_embedding, r.tokens, r.steps, "
    "r.step, r.flops, r.flops_per_token, r.budget_flops, r.config_json, r.error, r.created_at, "
    "r.started_at, r.finished_at";

// Q1 holds for every file sims wrote (a CHECK in the schema): a status outside it means the
// file is damaged, and is reported the way SQLite reports damage (sims names the file).
RunStatus StatusColumn(SQLite::Statement& st) {
  try {
    return RunStatusFromString(ColumnText(st, "status"));
  } catch (const UserError& e) {
    throw SQLite::Exception(std::string("runs.status: ") + e.what());
  }
}

RunRow ReadRun(SQLite::Statement& st) {
  RunRow r;
  r.id = ColumnText(st, "id");
  r.sweep_id = st.getColumn("sweep_id").getInt64();
  r.sweep = ColumnText(st, "sweep");
  r.condition = ColumnText(st, "condition");
  r.status = StatusColumn(st);
  r.attempt = st.getColumn("attempt").getInt64();
  r.worker = ColumnText(st, "worker");
  r.lease_until = ColumnDouble(st, "lease_until");
  r.heartbeat_at = ColumnDouble(st, "heartbeat_at");
  r.n_params = st.getColumn("n_params").getInt64();
  r.n_params_non_embedding = st.getColumn("n_params_non_embedding").getInt64();
  r.tokens = st.getColumn("tokens").getInt64();
  r.total_steps = st.getColumn("steps").getInt64();
  r.last_step = st.getColumn("step").getInt64();
  r.flops = st.getColumn("flops").getDouble();
  r.flops_per_token = st.getColumn("flops_per_token").getDouble();
  r.budget_flops = st.getColumn("budget_flops").getDouble();
  r.config_json = ColumnText(st, "config_json");
  r.error = ColumnText(st, "error");
  r.created_at = ColumnText(st, "created_at");
  r.started_at = ColumnText(st, "started_at");
  r.finished_at = ColumnText(st, "finished_at");
  return r;
}

int ReadSchemaVersion(SQLite::Database& db) {
  if (!db.tableExists("schema_version")) return 0;
  SQLite::Statement st(db, "SELECT MAX(version) FROM schema_version");
  st.executeStep();
  return st.getColumn(0).isNull() ? 0 : st.getColumn(0).getInt();
}

}  // namespace

namespace {
constexpr EnumNames<SweepFlops, 5> kSweepFlopsNames{{{SweepFlops::kUnknown, ""},
                                                    {SweepFlops::kImported, "imported"},
                                                    {SweepFlops::k6ND, "6ND"},
                                                    {SweepFlops::k6NDAttn, "6ND+attn"},
                                                    {SweepFlops::kExact, "exact"}}};
}  // namespace

std::string ToString(SweepFlops flops) { return std::string(NameOf(kSweepFlopsNames, flops)); }
SweepFlops SweepFlopsFromString(std::string_view text) {
  return ParseName(kSweepFlopsNames, text, "a sweep FLOP convention");
}
SweepFlops SweepFlopsOf(FlopConvention planned) {
  switch (planned) {
    case FlopConvention::k6ND: return SweepFlops::k6ND;
    case FlopConvention::k6NDAttn: return SweepFlops::k6NDAttn;
    case FlopConvention::kExact: return SweepFlops::kExact;
  }
  return SweepFlops::kUnknown;  // unreachable: every convention is listed
}
std::optional<FlopConvention> PlannerConvention(SweepFlops flops) {
  switch (flops) {
    case SweepFlops::k6ND: return FlopConvention::k6ND;
    case SweepFlops::k6NDAttn: return FlopConvention::k6NDAttn;
    case SweepFlops::kExact: return FlopConvention::kExact;
    case SweepFlops::kUnknown:
    case SweepFlops::kImported: return std::nullopt;
  }
  return std::nullopt;
}

std::string ToString(RunStatus status) { return std::string(NameOf(kRunStatusNames, status)); }
RunStatus RunStatusFromString(std::string_view text) {
  return ParseName(kRunStatusNames, text, "a run status");
}

double NowSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

Store::Store(std::string path, std::unique_ptr<SQLite::Database> db)
    : path_(std::move(path)), db_(std::move(db)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

namespace {

std::mutex g_last_opened_mutex;
std::string g_last_opened;  // LastOpenedDatabase(); guarded by g_last_opened_mutex

void RecordOpenedDatabase(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_last_opened_mutex);
  g_last_opened = path;
}

}  // namespace

std::string LastOpenedDatabase() {
  std::lock_guard<std::mutex> lock(g_last_opened_mutex);
  return g_last_opened;
}

Store Store::Open(const std::string& path, OpenMode mode) {
  std::error_code ec;
  if (mode == OpenMode::kExisting && !std::filesystem::exists(path, ec)) {
    throw UserError(fmt::format("database {} does not exist\nhint: check --db, or create it with "
                                "sims plan SWEEP.toml (or sims import)",
                                path));
  }
  RecordOpenedDatabase(path);
  std::unique_ptr<SQLite::Database> db;
  int version = 0;
  int tables = 0;
  try {
    db = std::make_unique<SQLite::Database>(path, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db->setBusyTimeout(60000);
    // Read before any write: a foreign or truncated file fails here and stays as it was.
    tables = db->execAndGet("SELECT count(*) FROM sqlite_master WHERE type = 'table'").getInt();
    version = ReadSchemaVersion(*db);
  } catch (const SQLite::Exception& e) {
    throw UserError(fmt::format(
        "database {}: cannot be read as an SQLite database ({}); the file was not modified\n"
        "hint: pass another --db path, or move this file away",
        path, e.what()));
  }
  if (version == 0 && tables > 0) {
    throw UserError(fmt::format(
        "database {}: an SQLite file with {} table(s) of another program (no sims schema_version "
        "table); the file was not modified\nhint: pass another --db path",
        path, tables));
  }
  if (version > kSchemaVersion) {
    throw UserError(fmt::format(
        "database {}: schema version {} is newer than this sims understands ({}); the file was "
        "not modified\nhint: use a newer sims binary for this database",
        path, version, kSchemaVersion));
  }
  db->exec("PRAGMA journal_mode=WAL");
  db->exec("PRAGMA synchronous=NORMAL");  // WAL + NORMAL is durable across process crashes
  db->exec("PRAGMA foreign_keys=ON");
  if (version < kSchemaVersion) {
    WriteTransaction tx(*db);
    version = ReadSchemaVersion(*db);  // another process may have migrated meanwhile
    if (version == 0) {
      db->exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
               "applied_at TEXT NOT NULL DEFAULT (datetime('now')))");
    }
    for (int v = version; v < kSchemaVersion; ++v) {
      db->exec(kMigrations[v]);
      SQLite::Statement st(*db, "INSERT INTO schema_version(version) VALUES (?)");
      st.bind(1, v + 1);
      st.exec();
    }
    tx.Commit();
  }
  return Store(path, std::move(db));
}

int Store::SchemaVersion() { return ReadSchemaVersion(*db_); }

namespace {

// S1 of store.h (the convention is typed, so only the JSON is left to check).
void CheckSweepFacts(const std::string& sweep, const SweepFacts& f) {
  if (!f.planner_json.empty() &&
      !nlohmann::json::parse(f.planner_json, nullptr, /*allow_exceptions=*/false).is_object()) {
    throw UserError(fmt::format("sweep {}: planner_json is not a JSON object", sweep));
  }
}

}  // namespace

int64_t Store::UpsertSweep(const std::string& name, const std::string& spec_toml,
                           const SweepFacts& facts) {
  CheckSweepFacts(name, facts);
  WriteTransaction tx(*db_);
  SQLite::Statement ins(*db_,
                        "INSERT INTO sweeps(name, spec_toml, flops_convention, "
                        "n_includes_embedding, planner_json) VALUES (?, ?, ?, ?, ?) "
                        // A sweep stored before schema 2 has no facts: re-planning fills them.
                        "ON CONFLICT(name) DO UPDATE SET flops_convention = excluded.flops_convention, "
                        "n_includes_embedding = excluded.n_includes_embedding, "
                        "planner_json = excluded.planner_json "
                        "WHERE sweeps.flops_convention = '' AND excluded.flops_convention != ''");
  ins.bind(1, name);
  ins.bind(2, spec_toml);
  ins.bind(3, ToString(facts.flops_convention));
  ins.bind(4, facts.n_includes_embedding ? 1 : 0);
  ins.bind(5, facts.planner_json);
  ins.exec();
  SQLite::Statement sel(*db_, "SELECT id FROM sweeps WHERE name = ?");
  sel.bind(1, name);
  sel.executeStep();
  int64_t id = sel.getColumn(0).getInt64();
  tx.Commit();
  return id;
}

namespace {
const char* const kSweepColumns =
    "id, name, spec_toml, created_at, flops_convention, n_includes_embedding, planner_json";
SweepRow ReadSweep(SQLite::Statement& st) {
  SweepRow r{st.getColumn(0).getInt64(), st.getColumn(1).getString(), st.getColumn(2).getString(),
             st.getColumn(3).getString(), {}};
  r.facts = {SweepFlopsFromString(st.getColumn(4).getString()), st.getColumn(5).getInt() != 0,
             st.getColumn(6).getString()};
  return r;
}

// R1-R4 of store.h (the dependencies' existence is the foreign key, checked on insert).
void CheckRunInvariant(const NewRun& r) {
  auto fail = [&](const std::string& rule) {
    throw UserError(fmt::format("run {} ({}): {}; nothing of this batch was stored", r.id,
                                r.condition, rule));
  };
  if (!(r.tokens > 0)) fail(fmt::format("tokens = {} must be > 0", r.tokens));
  if (r.steps < 0) fail(fmt::format("steps = {} must be >= 0", r.steps));
  if (r.steps > 0 && r.tokens % r.steps != 0) {
    fail(fmt::format("tokens = {} is not a whole number of steps ({})", r.tokens, r.steps));
  }
  if (!(r.flops > 0 && std::isfinite(r.flops) && r.flops_per_token > 0 &&
        std::isfinite(r.flops_per_token))) {
    fail(fmt::format("flops = {} and flops_per_token = {} must be finite and > 0", r.flops,
                     r.flops_per_token));
  }
  const double priced = r.flops_per_token * static_cast<double>(r.tokens);
  if (std::abs(r.flops - priced) > 1e-9 * r.flops) {
    fail(fmt::format("flops = {:.10g} but flops_per_token x tokens = {:.10g}", r.flops, priced));
  }
  if (!(r.budget_flops >= 0) || !std::isfinite(r.budget_flops)) {
    fail(fmt::format("budget_flops = {} must be finite and >= 0", r.budget_flops));
  }
  if (r.budget_flops > 0 && r.steps > 0) {
    const double one_step = r.flops_per_token * static_cast<double>(r.tokens / r.steps);
    if (std::abs(r.flops - r.budget_flops) > one_step * (1 + 1e-9)) {
      fail(fmt::format("flops = {:.6g} is more than one step ({:.3g} FLOPs) from its budget {:.6g}",
                       r.flops, one_step, r.budget_flops));
    }
  }
  if (!nlohmann::json::parse(r.config_json, nullptr, /*allow_exceptions=*/false).is_object()) {
    fail("config_json is not a JSON object");
  }
  for (const std::string& d : r.depends_on) {
    if (d == r.id) fail("the run depends on itself");
  }
}

}  // namespace

std::optional<SweepRow> Store::FindSweep(const std::string& name) {
  SQLite::Statement st(*db_, fmt::format("SELECT {} FROM sweeps WHERE name = ?", kSweepColumns));
  st.bind(1, name);
  if (!st.executeStep()) return std::nullopt;
  return ReadSweep(st);
}

std::vector<SweepRow> Store::ListSweeps() {
  SQLite::Statement st(*db_, fmt::format("SELECT {} FROM sweeps ORDER BY id", kSweepColumns));
  std::vector<SweepRow> out;
  while (st.executeStep()) out.push_back(ReadSweep(st));
  return out;
}

int Store::InsertRuns(int64_t sweep_id, const std::vector<NewRun>& runs) {
  for (const NewRun& r : runs) CheckRunInvariant(r);
  WriteTransaction tx(*db_);
  SQLite::Statement ins(*db_,
                        "INSERT INTO runs(id, sweep_id, condition, n_params, "
                        "n_params_non_embedding, tokens, steps, flops, config_json, "
                        "flops_per_token, budget_flops) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING");
  SQLite::Statement dep(*db_,
                        "INSERT INTO run_deps(run_id, depends_on) VALUES (?, ?) "
                        "ON CONFLICT DO NOTHING");
  int inserted = 0;
  for (const NewRun& r : runs) {
    ins.reset();
    ins.bind(1, r.id);
    ins.bind(2, sweep_id);
    ins.bind(3, r.condition);
    ins.bind(4, r.n_params);
    ins.bind(5, r.n_params_non_embedding);
    ins.bind(6, r.tokens);
    ins.bind(7, r.steps);
    ins.bind(8, r.flops);
    ins.bind(9, r.config_json);
    ins.bind(10, r.flops_per_token);
    ins.bind(11, r.budget_flops);
    inserted += ins.exec();
  }
  // Dependencies after all runs, so a run may depend on one listed later in `runs`.
  for (const NewRun& r : runs) {
    for (const std::string& d : r.depends_on) {
      dep.reset();
      dep.bind(1, r.id);
      dep.bind(2, d);
      try {
        dep.exec();
      } catch (const SQLite::Exception& e) {
        throw UserError(fmt::format("run {} depends on run {}, which is not in the database ({})",
                                    r.id, d, e.what()));
      }
    }
  }
  tx.Commit();
  return inserted;
}

std::optional<RunRow> Store::ClaimRun(const std::string& worker, double now, double lease_seconds,
                                      const std::string& sweep, const std::string& only_run) {
  WriteTransaction tx(*db_);
  SQLite::Statement st(*db_, R"sql(
UPDATE runs SET status = 'running', worker = ?1, lease_until = ?2, heartbeat_at = ?3,
       started_at = COALESCE(started_at, datetime('now')), error = NULL
WHERE id = (
  SELECT r.id FROM runs r JOIN sweeps s ON s.id = r.sweep_id
  WHERE r.status = 'planned'
    AND (?4 = '' OR s.name = ?4)
    AND (?5 = '' OR r.id = ?5)
    AND NOT EXISTS (SELECT 1 FROM run_deps d JOIN runs p ON p.id = d.depends_on
                    WHERE d.run_id = r.id AND p.status != 'done')
  ORDER BY r.rowid LIMIT 1)
RETURNING id)sql");
  st.bind(1, worker);
  st.bind(2, now + lease_seconds);
  st.bind(3, now);
  st.bind(4, sweep);
  st.bind(5, only_run);
  if (!st.executeStep()) return std::nullopt;
  std::string id = st.getColumn(0).getString();
  st.reset();  // finish the statement before the transaction commits
  tx.Commit();
  return GetRun(id);
}

bool Store::Heartbeat(const std::string& run_id, const std::string& worker, double now,
                      double lease_seconds, int64_t step) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET lease_until = ?, heartbeat_at = ?, step = ? "
                       "WHERE id = ? AND worker = ? AND status = 'running'");
  st.bind(1, now + lease_seconds);
  st.bind(2, now);
  st.bind(3, step);
  st.bind(4, run_id);
  st.bind(5, worker);
  return st.exec() == 1;
}

bool Store::FinishRun(const std::string& run_id, const std::string& worker, double now) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET status = 'done', lease_until = NULL, heartbeat_at = ?, "
                       "step = steps, finished_at = datetime('now'), error = NULL "
                       "WHERE id = ? AND worker = ? AND status = 'running'");
  st.bind(1, now);
  st.bind(2, run_id);
  st.bind(3, worker);
  return st.exec() == 1;
}

bool Store::FailRun(const std::string& run_id, const std::string& worker, double now,
                    const std::string& error) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET status = 'failed', lease_until = NULL, heartbeat_at = ?, "
                       "finished_at = datetime('now'), error = ? "
                       "WHERE id = ? AND worker = ? AND status = 'running'");
  st.bind(1, now);
  st.bind(2, error);
  st.bind(3, run_id);
  st.bind(4, worker);
  return st.exec() == 1;
}

bool Store::ReleaseRun(const std::string& run_id, const std::string& worker) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET status = 'planned', worker = NULL, lease_until = NULL "
                       "WHERE id = ? AND worker = ? AND status = 'running'");
  st.bind(1, run_id);
  st.bind(2, worker);
  return st.exec() == 1;
}

std::vector<std::string> Store::RequeueExpired(double now, int max_attempts) {
  WriteTransaction tx(*db_);
  std::vector<std::string> ids;
  {
    SQLite::Statement st(*db_, R"sql(
UPDATE runs SET
  attempt = attempt + 1,
  status = CASE WHEN attempt + 1 >= ?2 THEN 'failed' ELSE 'planned' END,
  error = CASE WHEN attempt + 1 >= ?2
               THEN printf('lease expired on attempt %d of %d (worker %s stopped heartbeating)',
                           attempt + 1, ?2, worker)
               ELSE error END,
  finished_at = CASE WHEN attempt + 1 >= ?2 THEN datetime('now') ELSE NULL END,
  worker = NULL, lease_until = NULL
WHERE status = 'running' AND lease_until < ?1
RETURNING id)sql");
    st.bind(1, now);
    st.bind(2, max_attempts);
    while (st.executeStep()) ids.push_back(st.getColumn(0).getString());
  }
  tx.Commit();
  return ids;
}

std::optional<RunStatus> Store::RequeueRun(const std::string& run_id, const std::string& worker,
                                           int max_attempts, const std::string& reason) {
  SQLite::Statement st(*db_, R"sql(
UPDATE runs SET
  attempt = attempt + 1,
  status = CASE WHEN attempt + 1 >= ?3 THEN 'failed' ELSE 'planned' END,
  error = CASE WHEN attempt + 1 >= ?3
               THEN printf('%s (attempt %d of %d)', ?4, attempt + 1, ?3) ELSE error END,
  finished_at = CASE WHEN attempt + 1 >= ?3 THEN datetime('now') ELSE NULL END,
  worker = NULL, lease_until = NULL
WHERE id = ?1 AND worker = ?2 AND status = 'running'
RETURNING status)sql");
  st.bind(1, run_id);
  st.bind(2, worker);
  st.bind(3, max_attempts);
  st.bind(4, reason);
  if (!st.executeStep()) return std::nullopt;
  return RunStatusFromString(st.getColumn(0).getString());
}

std::vector<std::string> Store::FailOrphans() {
  WriteTransaction tx(*db_);
  std::vector<std::string> ids;
  // Repeat: failing a run can orphan the runs that depend on it.
  for (;;) {
    SQLite::Statement st(*db_, R"sql(
UPDATE runs SET status = 'failed', finished_at = datetime('now'),
  error = (SELECT printf('dependency %s failed: %s', p.id, COALESCE(p.error, '?'))
           FROM run_deps d JOIN runs p ON p.id = d.depends_on
           WHERE d.run_id = runs.id AND p.status = 'failed' LIMIT 1)
WHERE status = 'planned' AND EXISTS (
  SELECT 1 FROM run_deps d JOIN runs p ON p.id = d.depends_on
  WHERE d.run_id = runs.id AND p.status = 'failed')
RETURNING id)sql");
    size_t before = ids.size();
    while (st.executeStep()) ids.push_back(st.getColumn(0).getString());
    if (ids.size() == before) break;
  }
  tx.Commit();
  return ids;
}

bool Store::RetryRun(const std::string& run_id) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET status = 'planned', attempt = 0, worker = NULL, "
                       "lease_until = NULL, finished_at = NULL WHERE id = ? AND status = 'failed'");
  st.bind(1, run_id);
  return st.exec() == 1;
}

bool Store::UpdateRunConfig(const std::string& run_id, const std::string& config_json) {
  const auto parsed = nlohmann::json::parse(config_json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) {
    throw UserError(fmt::format("run {}: config_json is not a JSON object (R4)", run_id));
  }
  SQLite::Statement st(*db_, "UPDATE runs SET config_json = ? WHERE id = ? AND status != 'done'");
  st.bind(1, config_json);
  st.bind(2, run_id);
  return st.exec() == 1;
}

bool Store::ResetRun(const std::string& run_id) {
  WriteTransaction tx(*db_);
  SQLite::Statement up(*db_,
                       "UPDATE runs SET status = 'planned', attempt = 0, worker = NULL, "
                       "lease_until = NULL, heartbeat_at = NULL, step = 0, error = NULL, "
                       "started_at = NULL, finished_at = NULL WHERE id = ?");
  up.bind(1, run_id);
  if (up.exec() != 1) return false;
  for (const char* table : {"metrics", "evals"}) {
    SQLite::Statement del(*db_, fmt::format("DELETE FROM {} WHERE run_id = ?", table));
    del.bind(1, run_id);
    del.exec();
  }
  tx.Commit();
  return true;
}

bool Store::CancelRun(const std::string& run_id, double now) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET status = 'failed', error = 'cancelled by user', "
                       "worker = NULL, lease_until = NULL, heartbeat_at = ?, "
                       "finished_at = datetime('now') "
                       "WHERE id = ? AND status IN ('planned', 'running')");
  st.bind(1, now);
  st.bind(2, run_id);
  return st.exec() == 1;
}

void Store::RecordReported(const std::string& run_id, int64_t step, int64_t attempt) {
  SQLite::Statement st(*db_,
                       "UPDATE runs SET step = MAX(step, ?2), attempt = ?3 "
                       "WHERE id = ?1 AND (step < ?2 OR attempt != ?3)");
  st.bind(1, run_id);
  st.bind(2, step);
  st.bind(3, attempt);
  st.exec();
}

std::optional<RunRow> Store::GetRun(const std::string& run_id) {
  SQLite::Statement st(*db_, fmt::format("SELECT {} FROM runs r JOIN sweeps s ON s.id = "
                                         "r.sweep_id WHERE r.id = ?",
                                         kRunColumns));
  st.bind(1, run_id);
  if (!st.executeStep()) return std::nullopt;
  return ReadRun(st);
}

std::vector<RunRow> Store::ListRuns(const RunFilter& filter) {
  SQLite::Statement st(*db_, fmt::format("SELECT {} FROM runs r JOIN sweeps s ON s.id = "
                                         "r.sweep_id WHERE (?1 = '' OR s.name = ?1) AND "
                                         "(?2 = '' OR r.condition = ?2) AND "
                                         "(?3 = '' OR r.status = ?3) ORDER BY r.rowid",
                                         kRunColumns));
  st.bind(1, filter.sweep);
  st.bind(2, filter.condition);
  st.bind(3, filter.status ? ToString(*filter.status) : std::string());
  std::vector<RunRow> out;
  while (st.executeStep()) out.push_back(ReadRun(st));
  return out;
}

std::vector<std::string> Store::Dependencies(const std::string& run_id) {
  SQLite::Statement st(*db_, "SELECT depends_on FROM run_deps WHERE run_id = ? ORDER BY 1");
  st.bind(1, run_id);
  std::vector<std::string> out;
  while (st.executeStep()) out.push_back(st.getColumn(0).getString());
  return out;
}

int Store::InsertMetrics(const std::vector<MetricRow>& rows) {
  WriteTransaction tx(*db_);
  SQLite::Statement st(*db_,
                       "INSERT INTO metrics(run_id, step, tokens, name, value) VALUES (?, ?, ?, "
                       "?, ?) ON CONFLICT DO NOTHING");
  int inserted = 0;
  for (const MetricRow& m : rows) {
    st.reset();
    st.bind(1, m.run_id);
    st.bind(2, m.step);
    st.bind(3, m.tokens);
    st.bind(4, m.name);
    st.bind(5, m.value);
    inserted += st.exec();
  }
  tx.Commit();
  return inserted;
}

int Store::InsertEvals(const std::vector<EvalRow>& rows) {
  WriteTransaction tx(*db_);
  SQLite::Statement st(*db_,
                       "INSERT INTO evals(run_id, step, task, accuracy, n_pairs) VALUES (?, ?, "
                       "?, ?, ?) ON CONFLICT DO NOTHING");
  int inserted = 0;
  for (const EvalRow& e : rows) {
    st.reset();
    st.bind(1, e.run_id);
    st.bind(2, e.step);
    st.bind(3, e.task);
    st.bind(4, e.accuracy);
    st.bind(5, e.n_pairs);
    inserted += st.exec();
  }
  tx.Commit();
  return inserted;
}

std::vector<MetricRow> Store::Metrics(const std::string& run_id, const std::string& name) {
  SQLite::Statement st(*db_,
                       "SELECT run_id, step, tokens, name, value FROM metrics WHERE run_id = ?1 "
                       "AND (?2 = '' OR name = ?2) ORDER BY step, name");
  st.bind(1, run_id);
  st.bind(2, name);
  std::vector<MetricRow> out;
  while (st.executeStep()) {
    out.push_back({st.getColumn(0).getString(), st.getColumn(1).getInt64(),
                   st.getColumn(2).getInt64(), st.getColumn(3).getString(),
                   st.getColumn(4).getDouble()});
  }
  return out;
}

std::vector<EvalRow> Store::Evals(const std::string& run_id) {
  SQLite::Statement st(*db_,
                       "SELECT run_id, step, task, accuracy, n_pairs FROM evals WHERE run_id = ? "
                       "ORDER BY step, task");
  st.bind(1, run_id);
  std::vector<EvalRow> out;
  while (st.executeStep()) {
    out.push_back({st.getColumn(0).getString(), st.getColumn(1).getInt64(),
                   st.getColumn(2).getString(), st.getColumn(3).getDouble(),
                   st.getColumn(4).getInt64()});
  }
  return out;
}

std::map<std::string, double> Store::LastMetricValues(const std::string& name) {
  SQLite::Statement st(*db_, R"sql(
SELECT m.run_id, m.value FROM metrics m
JOIN (SELECT run_id, MAX(step) AS step FROM metrics WHERE name = ?1 GROUP BY run_id) l
  ON l.run_id = m.run_id AND l.step = m.step
WHERE m.name = ?1)sql");
  st.bind(1, name);
  std::map<std::string, double> out;
  while (st.executeStep()) out[st.getColumn(0).getString()] = st.getColumn(1).getDouble();
  return out;
}

int64_t Store::InsertFit(const FitRow& fit) {
  SQLite::Statement st(*db_,
                       "INSERT INTO fits(kind, condition, inputs_json, result_json) VALUES (?, ?, "
                       "?, ?) RETURNING id");
  st.bind(1, fit.kind);
  st.bind(2, fit.condition);
  st.bind(3, fit.inputs_json);
  st.bind(4, fit.result_json);
  st.executeStep();
  int64_t id = st.getColumn(0).getInt64();
  return id;
}

namespace {
FitRow ReadFit(SQLite::Statement& st) {
  return {st.getColumn(0).getInt64(), st.getColumn(1).getString(), st.getColumn(2).getString(),
          st.getColumn(3).getString(), st.getColumn(4).getString(), st.getColumn(5).getString()};
}
}  // namespace

std::vector<FitRow> Store::ListFits(const std::string& kind) {
  SQLite::Statement st(*db_,
                       "SELECT id, created_at, kind, condition, inputs_json, result_json FROM "
                       "fits WHERE (?1 = '' OR kind = ?1) ORDER BY id");
  st.bind(1, kind);
  std::vector<FitRow> out;
  while (st.executeStep()) out.push_back(ReadFit(st));
  return out;
}

std::optional<FitRow> Store::GetFit(int64_t id) {
  SQLite::Statement st(*db_,
                       "SELECT id, created_at, kind, condition, inputs_json, result_json FROM "
                       "fits WHERE id = ?");
  st.bind(1, id);
  if (!st.executeStep()) return std::nullopt;
  return ReadFit(st);
}

int64_t Store::NextProposalRound(const std::string& sweep) {
  SQLite::Statement st(*db_,
                       "SELECT COALESCE(MAX(p.round), 0) + 1 FROM proposals p "
                       "JOIN runs r ON r.id = p.run_id JOIN sweeps s ON s.id = r.sweep_id "
                       "WHERE s.name = ?");
  st.bind(1, sweep);
  st.executeStep();
  return st.getColumn(0).getInt64();
}

int Store::RecordProposals(const std::vector<ProposalRow>& rows) {
  WriteTransaction tx(*db_);
  SQLite::Statement run(*db_, "SELECT condition FROM runs WHERE id = ?");
  // DO NOTHING on the key only: a run proposed again keeps its first round, while a broken
  // CHECK still fails (INSERT OR IGNORE would drop that row silently).
  SQLite::Statement ins(*db_,
                        "INSERT INTO proposals(run_id, condition, round, seed, target_budget, "
                        "gain, n_opt_sd_before, compared_with) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                        "ON CONFLICT(run_id) DO NOTHING");
  int inserted = 0;
  for (const ProposalRow& p : rows) {
    auto fail = [&](const std::string& rule) {
      throw UserError(fmt::format("proposal of run {} (round {}): {}; nothing of this batch was "
                                  "recorded",
                                  p.run_id, p.round, rule));
    };
    run.reset();
    run.bind(1, p.run_id);
    if (!run.executeStep()) {
      fail("no such run in the database (hint: plan the proposals before recording them)");
    }
    if (run.getColumn(0).getString() != p.condition) {
      fail(fmt::format("condition {} but the run is of condition {}", p.condition,
                       run.getColumn(0).getString()));
    }
    if (p.round < 1) fail("round must be >= 1");
    if (p.compared_with == p.condition) fail("a condition compared with itself");
    ins.reset();
    ins.bind(1, p.run_id);
    ins.bind(2, p.condition);
    ins.bind(3, p.round);
    ins.bind(4, std::to_string(p.seed));
    ins.bind(5, p.target_budget);
    ins.bind(6, p.gain);
    ins.bind(7, p.n_opt_sd_before);
    ins.bind(8, p.compared_with);
    inserted += ins.exec();
  }
  tx.Commit();
  return inserted;
}

std::vector<ProposalRow> Store::Proposals(const std::string& sweep) {
  SQLite::Statement st(*db_,
                       "SELECT p.run_id, p.condition, p.round, p.seed, p.target_budget, p.gain, "
                       "p.n_opt_sd_before, p.proposed_at, p.compared_with FROM proposals p "
                       "JOIN runs r ON r.id = p.run_id JOIN sweeps s ON s.id = r.sweep_id "
                       "WHERE s.name = ? ORDER BY p.round, p.condition, p.rowid");
  st.bind(1, sweep);
  std::vector<ProposalRow> out;
  while (st.executeStep()) {
    ProposalRow& p = out.emplace_back();
    p.run_id = st.getColumn(0).getString();
    p.condition = st.getColumn(1).getString();
    p.round = st.getColumn(2).getInt64();
    const std::string seed = st.getColumn(3).getString();
    const auto [end, ec] = std::from_chars(seed.data(), seed.data() + seed.size(), p.seed);
    if (ec != std::errc() || end != seed.data() + seed.size()) {
      // Only a damaged file has this (RecordProposals writes decimal): report it as damage.
      throw SQLite::Exception(fmt::format("proposals.seed of run {}: '{}' is not a decimal "
                                          "unsigned 64-bit number",
                                          p.run_id, seed));
    }
    p.target_budget = st.getColumn(4).getDouble();
    p.gain = st.getColumn(5).getDouble();
    p.n_opt_sd_before = st.getColumn(6).getDouble();
    p.proposed_at = st.getColumn(7).getString();
    p.compared_with = st.getColumn(8).getString();
  }
  return out;
}

TableDump Store::DumpTable(StoredTable table, const std::string& sweep) {
  std::string query;
  switch (table) {
    case StoredTable::kRuns:
      query = "SELECT r.*, s.name AS sweep FROM runs r JOIN sweeps s ON s.id = r.sweep_id "
              "WHERE (?1 = '' OR s.name = ?1) ORDER BY r.rowid";
      break;
    case StoredTable::kMetrics:
    case StoredTable::kEvals:
      query = std::string("SELECT t.* FROM ") +
              (table == StoredTable::kMetrics ? "metrics" : "evals") +
              " t JOIN runs r ON r.id = t.run_id JOIN sweeps s ON s.id = r.sweep_id "
              "WHERE (?1 = '' OR s.name = ?1) ORDER BY t.rowid";
      break;
    case StoredTable::kFits:
      query = "SELECT * FROM fits ORDER BY rowid";
      break;
    case StoredTable::kSweeps:
      query = "SELECT * FROM sweeps ORDER BY rowid";
      break;
    case StoredTable::kProposals:
      query = "SELECT p.* FROM proposals p JOIN runs r ON r.id = p.run_id "
              "JOIN sweeps s ON s.id = r.sweep_id WHERE (?1 = '' OR s.name = ?1) ORDER BY p.rowid";
      break;
  }
  SQLite::Statement st(*db_, query);
  if (st.getBindParameterCount() > 0) st.bind(1, sweep);
  TableDump dump;
  for (int c = 0; c < st.getColumnCount(); ++c) dump.columns.push_back(st.getColumnName(c));
  while (st.executeStep()) {
    std::vector<TableCell>& row = dump.rows.emplace_back();
    for (int c = 0; c < st.getColumnCount(); ++c) {
      SQLite::Column col = st.getColumn(c);
      TableCell cell;
      if (col.isInteger()) {
        cell = {TableCell::Kind::kInteger, col.getInt64(), 0, col.getString()};
      } else if (col.isFloat()) {
        cell = {TableCell::Kind::kReal, 0, col.getDouble(), col.getString()};
      } else if (!col.isNull()) {
        cell = {TableCell::Kind::kText, 0, 0, col.getString()};
      }
      row.push_back(std::move(cell));
    }
  }
  return dump;
}

}  // namespace sims
