#pragma once
// The results store: one SQLite file per project, the single source of truth and the queue.
// Open it with Store::Open(path); everything else is a method on Store. Not for: fitting or
// printing (see fitting/ and orchestrator/).
//
// The run lifecycle (tests assert exactly these transitions):
//
//   planned --ClaimRun--> running --FinishRun--> done
//                            |  \---FailRun----> failed
//                            |---ReleaseRun----> planned            (graceful stop; attempt kept)
//                            \---RequeueExpired-> planned, attempt+1 (lease ran out)
//                                             or failed             (attempt reached max_attempts)
//   failed  --RetryRun-->  planned (attempt reset to 0)
//   any     --ResetRun-->  planned (metrics and evals deleted, attempt 0)
//   planned/running --CancelRun--> failed ("cancelled by user")
//
//   planned: no worker, no lease. running: worker and lease_until set, heartbeat_at renewed.
//   done/failed: finished_at set; failed has error text. A run is claimable only when every
//   run it depends on is done.
//
// Concurrency: WAL mode and a busy timeout, so several processes may write at once; every
// write that belongs together is one transaction. Metrics and evals are idempotent: writing
// the same (run, step, name) twice keeps one row (the first).
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace SQLite {
class Database;
}

namespace sims {

inline constexpr int kSchemaVersion = 2;

// What the planner decided for a whole sweep, kept as columns so that no reader re-parses the
// sweep file: the FLOP convention, what N counts, and (planner_json) the shape rule and the
// cost curve per condition that fitting prices an unseen N with (sweeps/plan.h CostCurve).
struct SweepFacts {
  std::string flops_convention;       // exact | 6ND | 6ND+attn | imported | "" (before schema 2)
  bool n_includes_embedding = false;  // N in 6ND and tokens per parameter counts embeddings
  std::string planner_json;           // "" for imported sweeps
  bool operator==(const SweepFacts&) const = default;
};

struct SweepRow {
  int64_t id = 0;
  std::string name;
  std::string spec_toml;
  std::string created_at;
  SweepFacts facts;
};

// A run as the planner hands it to the store. InsertRuns checks, for every row, the invariant
//   tokens > 0, steps >= 0 (0: imported, never trained), steps > 0 => tokens % steps == 0,
//   flops == flops_per_token * tokens (to 1e-9),
//   budget_flops > 0 => |flops - budget_flops| <= one step's FLOPs (D is rounded to whole steps)
// and refuses the whole batch with the run id and the broken rule otherwise.
struct NewRun {
  std::string id;
  std::string condition;
  int64_t n_params = 0;
  int64_t n_params_non_embedding = 0;
  int64_t tokens = 0;
  int64_t steps = 0;
  double flops = 0;            // by the sweep's convention
  double flops_per_token = 0;  // the same convention; > 0
  double budget_flops = 0;     // the IsoFLOP budget the run was planned for; 0 = none (grid)
  std::string config_json;
  std::vector<std::string> depends_on;
};

struct RunRow {
  std::string id;
  int64_t sweep_id = 0;
  std::string sweep;
  std::string condition;
  std::string status;  // planned | running | done | failed
  int64_t attempt = 0;
  std::string worker;
  double lease_until = 0;   // unix seconds
  double heartbeat_at = 0;  // unix seconds
  int64_t n_params = 0;
  int64_t n_params_non_embedding = 0;
  int64_t tokens = 0;
  int64_t steps = 0;
  int64_t step = 0;  // last reported progress
  double flops = 0;
  double flops_per_token = 0;
  double budget_flops = 0;  // 0: not an IsoFLOP run
  std::string config_json;
  std::string error;
  std::string created_at, started_at, finished_at;
};

// The compute a run is grouped and plotted under: its IsoFLOP budget, or its own FLOPs when
// the design has no budget (grid and text-LM runs).
inline double BudgetOf(const RunRow& run) { return run.budget_flops > 0 ? run.budget_flops : run.flops; }

struct MetricRow {
  std::string run_id;
  int64_t step = 0;
  int64_t tokens = 0;
  std::string name;
  double value = 0;
};

struct EvalRow {
  std::string run_id;
  int64_t step = 0;
  std::string task;  // e.g. "sblimp/speech"
  double accuracy = 0;
  int64_t n_pairs = 0;
};

struct FitRow {
  int64_t id = 0;
  std::string created_at;
  std::string kind;
  std::string condition;
  std::string inputs_json;
  std::string result_json;
};

// One stored table as `sims export` prints it: every column, rows in insertion order.
enum class StoredTable { kRuns, kMetrics, kEvals, kFits, kSweeps };
struct TableCell {
  enum class Kind { kNull, kInteger, kReal, kText } kind = Kind::kNull;
  int64_t integer = 0;
  double real = 0;
  std::string text;  // SQLite's own text of the value ("" for NULL): what CSV prints
};
struct TableDump {
  std::vector<std::string> columns;
  std::vector<std::vector<TableCell>> rows;
};

struct RunFilter {
  std::string sweep;      // empty = all sweeps
  std::string condition;  // empty = all conditions
  std::string status;     // empty = all
};

// kCreate: a missing file becomes a new database (plan, import, demo, storing a fit).
// kExisting: a missing file is a UserError (every command that only reads or works a queue),
// so a mistyped --db never leaves an empty database behind and never "finds" 0 runs.
enum class OpenMode { kCreate, kExisting };

class Store {
 public:
  // Opens (or, with kCreate, creates) the file and migrates it to kSchemaVersion. Throws
  // UserError, leaving the file byte-identical, if it is not an SQLite database, is another
  // program's database (tables but no sims schema_version), or was written by a newer sims.
  static Store Open(const std::string& path, OpenMode mode = OpenMode::kCreate);
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& path() const { return path_; }
  int SchemaVersion();

  // Sweeps. UpsertSweep keeps the first spec text and facts of a name and returns its id.
  int64_t UpsertSweep(const std::string& name, const std::string& spec_toml,
                      const SweepFacts& facts = {});
  std::optional<SweepRow> FindSweep(const std::string& name);
  std::vector<SweepRow> ListSweeps();

  // Inserts the runs that are not there yet (by id), with their dependencies, in one
  // transaction. Returns how many were new.
  int InsertRuns(int64_t sweep_id, const std::vector<NewRun>& runs);

  // Lifecycle (see the diagram above). `now` is unix seconds, passed in so tests control time.
  // ClaimRun takes the oldest claimable planned run of `sweep` (any sweep if empty), or the
  // given run id if `only_run` is set; nullopt if none is claimable.
  std::optional<RunRow> ClaimRun(const std::string& worker, double now, double lease_seconds,
                                 const std::string& sweep = "", const std::string& only_run = "");
  // Renews the lease and records progress; false if the run is no longer ours (requeued).
  bool Heartbeat(const std::string& run_id, const std::string& worker, double now,
                 double lease_seconds, int64_t step);
  bool FinishRun(const std::string& run_id, const std::string& worker, double now);
  bool FailRun(const std::string& run_id, const std::string& worker, double now,
               const std::string& error);
  bool ReleaseRun(const std::string& run_id, const std::string& worker);
  // Expired leases: back to planned with attempt+1, or failed once attempt+1 >= max_attempts.
  // Returns the ids touched.
  std::vector<std::string> RequeueExpired(double now, int max_attempts);
  // Planned runs whose dependency failed become failed with a message naming the dependency.
  std::vector<std::string> FailOrphans();
  bool RetryRun(const std::string& run_id);
  bool ResetRun(const std::string& run_id);
  bool CancelRun(const std::string& run_id, double now);
  // For runs a scheduler owns (Slurm tasks report through events files): records, in any
  // status, the progress a task reported (step never lowered) and the scheduler's attempt
  // count (a `scontrol requeue` restarts the task as attempt 1). Not a lifecycle transition.
  void RecordReported(const std::string& run_id, int64_t step, int64_t attempt);

  std::optional<RunRow> GetRun(const std::string& run_id);
  std::vector<RunRow> ListRuns(const RunFilter& filter = {});
  std::vector<std::string> Dependencies(const std::string& run_id);

  // Idempotent on (run_id, step, name); returns rows actually inserted.
  int InsertMetrics(const std::vector<MetricRow>& rows);
  int InsertEvals(const std::vector<EvalRow>& rows);
  std::vector<MetricRow> Metrics(const std::string& run_id, const std::string& name = "");
  std::vector<EvalRow> Evals(const std::string& run_id);
  // The value at the highest step of metric `name`, for every run that has one: run id ->
  // value (`sims status`'s last loss, one query for all runs).
  std::map<std::string, double> LastMetricValues(const std::string& name);

  int64_t InsertFit(const FitRow& fit);
  std::vector<FitRow> ListFits(const std::string& kind = "");
  std::optional<FitRow> GetFit(int64_t id);

  // `table` as stored; runs, metrics and evals only of `sweep` when it is not empty (runs
  // gain a `sweep` column with the sweep's name).
  TableDump DumpTable(StoredTable table, const std::string& sweep = "");

 private:
  Store(std::string path, std::unique_ptr<SQLite::Database> db);
  std::string path_;
  std::unique_ptr<SQLite::Database> db_;
};

// The path of the database this process opened last ("" if none): what the CLI names when
// SQLite fails on a damaged file, which need not be --db (`sims demo` opens its own).
std::string LastOpenedDatabase();

// Current time in unix seconds (the one clock the orchestrator and worker use).
double NowSeconds();

}  // namespace sims
