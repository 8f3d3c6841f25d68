#pragma once
// The results store: one SQLite file per project, the single source of truth and the queue.
// Open it with Store::Open(path); everything else is a method on Store. Not for: fitting or
// printing (see fitting/ and orchestrator/). The schema: docs/layout.md "The database".
//
// Invariants. Every row written satisfies these; the insert that would break one is refused
// whole (UserError naming the run or sweep and the rule), so readers may rely on them:
//   R1  tokens > 0; steps >= 0 (0: imported, never trained); steps > 0 => tokens % steps == 0.
//   R2  flops and flops_per_token are finite and > 0, and flops == flops_per_token * tokens
//       (to 1e-9).
//   R3  budget_flops is finite and >= 0 (0: not an IsoFLOP run); budget_flops > 0 and
//       steps > 0 => |flops - budget_flops| <= one step's FLOPs (D is rounded to whole steps).
//   R4  config_json is a JSON object; a run never depends on itself, and every run it depends
//       on is in the store (or the same batch).
//   S1  a sweep's flops_convention is a SweepFlops name (rows.h: "" only for sweeps stored
//       before schema 2); planner_json is "" or a JSON object. The first non-empty facts are
//       kept.
//   Q1  status is planned, running, done or failed (a CHECK in the schema); it changes only
//       along the lifecycle below.
//   M1  (run, step, name) is unique in metrics, (run, step, task) in evals: the first row kept.
//   P1  a proposal names a run in the store, of the proposal's condition, with round >= 1,
//       compared with another condition or none; one proposal per run: the first round a run
//       was proposed in is kept.
//
// The run lifecycle (tests assert exactly these transitions):
//
//   planned --ClaimRun--> running --FinishRun--> done
//                            |  \---FailRun----> failed
//                            |---ReleaseRun----> planned            (graceful stop; attempt kept)
//                            |---RequeueExpired-> planned, attempt+1 (lease ran out)
//                            |                or failed             (attempt reached max_attempts)
//                            \---RequeueRun----> the same, when the worker saw another rank of
//                                                the run vanish (killed; trainer/train.h RankLost)
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

#include "results/rows.h"

namespace SQLite {
class Database;
}

namespace sims {

inline constexpr int kSchemaVersion = 4;

// One stored table as `sims export` prints it: every column, rows in insertion order.
enum class StoredTable { kRuns, kMetrics, kEvals, kFits, kSweeps, kProposals };
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

  // Sweeps. UpsertSweep keeps the first spec text and facts of a name (S1) and returns its id.
  int64_t UpsertSweep(const std::string& name, const std::string& spec_toml,
                      const SweepFacts& facts = {});
  std::optional<SweepRow> FindSweep(const std::string& name);
  std::vector<SweepRow> ListSweeps();

  // Inserts the runs that are not there yet (by id), with their dependencies, in one
  // transaction, after checking R1-R4 for every run. Returns how many were new.
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
  // One run of this worker whose attempt was lost through no fault of its config (a rank of a
  // multi-rank run died): planned with attempt+1, or failed with `reason` once attempt+1 >=
  // max_attempts. Returns the status it was left in (nullopt: not running under this worker).
  std::optional<RunStatus> RequeueRun(const std::string& run_id, const std::string& worker,
                                      int max_attempts, const std::string& reason);
  // Planned runs whose dependency failed become failed with a message naming the dependency.
  std::vector<std::string> FailOrphans();
  bool RetryRun(const std::string& run_id);
  bool ResetRun(const std::string& run_id);
  bool CancelRun(const std::string& run_id, double now);
  // For runs a scheduler owns (Slurm tasks report through events files): records, in any
  // status, the progress a task reported (step never lowered) and the scheduler's attempt
  // count (a `scontrol requeue` restarts the task as attempt 1). Not a lifecycle transition.
  void RecordReported(const std::string& run_id, int64_t step, int64_t attempt);
  // Replaces the config_json of a run that is not done (R4 checked); false if the run is done
  // or absent. Only for what is not part of a run's id (its "execution": ranks), so the id
  // still names the same training. Not a lifecycle transition.
  bool UpdateRunConfig(const std::string& run_id, const std::string& config_json);

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

  // Adaptive design (orchestrator/cli/suggest.h ApplySuggestion): which planned runs were
  // proposals, and of which round. NextProposalRound is 1 + the sweep's largest round (1 when
  // it has none). RecordProposals checks P1 for every row and writes them in one transaction;
  // a run already recorded keeps its row. Returns the rows inserted.
  int64_t NextProposalRound(const std::string& sweep);
  int RecordProposals(const std::vector<ProposalRow>& rows);
  std::vector<ProposalRow> Proposals(const std::string& sweep);  // by round, condition, rank

  // `table` as stored; runs, metrics, evals and proposals only of `sweep` when it is not empty
  // (runs gain a `sweep` column with the sweep's name).
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
