#pragma once
// Loading Slurm workers' events files (events.h) into the store: `IngestEvents` reads every
// `<project>/runs/<id>/events.jsonl` and applies it; it is idempotent (a line ingested twice is
// one row, a run already done stays done), so `sims ingest`, `sims status` and `sims run
// --watch` may all call it as often as they like. Also where a project's run files live.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "orchestrator/queue/events.h"
#include "results/store.h"

namespace sims {

// `<project>/runs/<run_id>`; the project directory is the folder holding the database.
std::string ProjectDir(const std::string& db_path);
std::string RunDir(const std::string& project_dir, const std::string& run_id);
std::string EventsPath(const std::string& run_dir);

// What the events of one run say, folded in order.
struct EventSummary {
  bool started = false;
  std::string worker;          // of the last start
  int64_t attempt = 0;         // of the last start: Slurm's restart count of the task
  std::optional<EventKind> terminal;  // kDone or kFailed after the last start, else none
  std::string error;           // for failed
  int64_t step = 0;            // last known progress: the highest step any line reports
  double last_time = 0;        // time of the last event with a time
  int done_events = 0;         // how many "done" lines (exactly-once checks)
  std::vector<MetricRow> metrics;
  std::vector<EvalRow> evals;
};
EventSummary SummarizeEvents(const std::string& run_id, const std::vector<Event>& events);

struct IngestSummary {
  int files = 0;
  int metrics_inserted = 0;
  int evals_inserted = 0;
  int runs_started = 0;   // planned -> running
  int runs_done = 0;      // -> done
  int runs_failed = 0;    // -> failed
};

// Loads every `<project>/runs/<id>/events.jsonl` of the runs in `sweep` (all if empty) into
// the store. A run whose events say started gets a lease of `lease_seconds` from `now`; every
// started run's row takes the events' attempt and (never lowering it) their last step, whatever
// its status, so a cancelled run's progress matches its last ingested loss.
IngestSummary IngestEvents(Store& store, const std::string& project_dir, const std::string& sweep,
                           double now, double lease_seconds);

}  // namespace sims
