#include "orchestrator/queue/ingest.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <fmt/format.h>

#include "common/log.h"
#include "common/names.h"

namespace sims {

namespace fs = std::filesystem;

std::string ProjectDir(const std::string& db_path) {
  fs::path parent = fs::absolute(db_path).parent_path();
  return parent.lexically_normal().string();
}

std::string RunDir(const std::string& project_dir, const std::string& run_id) {
  return PathForName(fs::path(project_dir) / "runs", NameKind::kRun, run_id, "", "run directory")
      .string();
}

std::string EventsPath(const std::string& run_dir) {
  return (fs::path(run_dir) / "events.jsonl").string();
}

EventSummary SummarizeEvents(const std::string& run_id, const std::vector<Event>& events) {
  EventSummary s;
  for (const auto& [kind, e] : events) {
    if (e.contains("time")) s.last_time = e.value("time", 0.0);
    switch (kind) {
      case EventKind::kStart:
        s.started = true;
        s.worker = e.value("worker", "slurm");
        s.attempt = e.value("attempt", int64_t{0});
        s.terminal.reset();
        s.error.clear();
        break;
      case EventKind::kRetry:
        // Written by `sims runs retry`: what came before no longer decides the state.
        s.started = false;
        s.terminal.reset();
        s.error.clear();
        break;
      case EventKind::kMetric:
      case EventKind::kEval:
      case EventKind::kProgress:
      case EventKind::kStopped:
        // Every line with a step says the trainer got that far: a task killed between
        // heartbeats (scancel) has metrics past its last progress line.
        s.step = std::max(s.step, e.value("step", int64_t{0}));
        if (kind == EventKind::kMetric) {
          s.metrics.push_back({run_id, e.value("step", int64_t{0}), e.value("tokens", int64_t{0}),
                               e.value("name", ""), e.value("value", 0.0)});
        } else if (kind == EventKind::kEval) {
          s.evals.push_back({run_id, e.value("step", int64_t{0}), e.value("task", ""),
                             e.value("accuracy", 0.0), e.value("n_pairs", int64_t{0})});
        }
        break;
      case EventKind::kDone:
        s.terminal = EventKind::kDone;
        ++s.done_events;
        break;
      case EventKind::kFailed:
        s.terminal = EventKind::kFailed;
        s.error = e.value("error", "");
        break;
    }
  }
  return s;
}

namespace {

// Applies one run's summary to its row; true if the row changed. Claiming needs the run's
// dependencies done, so the caller repeats passes until nothing changes.
bool ApplySummary(Store& store, const RunRow& row, const EventSummary& s, double now,
                  double lease_seconds, IngestSummary& out) {
  if (!s.started) return false;
  // What the task reported holds in every status (a cancelled run keeps the progress of its
  // last loss; a requeued task's attempt is Slurm's restart count); not a change of state.
  if (s.step > row.last_step || s.attempt != row.attempt) {
    store.RecordReported(row.id, s.step, s.attempt);
  }
  if (row.status == RunStatus::kDone) return false;
  if (row.status == RunStatus::kFailed) {
    // A failed row with a later outcome in the file: the events are what happened, unless the
    // user cancelled the run (then their word stands).
    if (s.terminal != EventKind::kDone || row.error == "cancelled by user") return false;
    store.RetryRun(row.id);
  }
  std::string worker = row.worker;
  if (row.status != RunStatus::kRunning) {
    std::string claimant = s.worker.empty() ? "slurm" : s.worker;
    if (!store.ClaimRun(claimant, now, lease_seconds, "", row.id)) return false;
    worker = claimant;
    ++out.runs_started;
  }
  if (s.terminal == EventKind::kDone) {
    store.Heartbeat(row.id, worker, now, lease_seconds, s.step);
    if (store.FinishRun(row.id, worker, now)) ++out.runs_done;
  } else if (s.terminal == EventKind::kFailed) {
    store.Heartbeat(row.id, worker, now, lease_seconds, s.step);
    if (store.FailRun(row.id, worker, now, s.error)) ++out.runs_failed;
  } else {
    store.Heartbeat(row.id, worker, now, lease_seconds, s.step);
    return row.status != RunStatus::kRunning;
  }
  return true;
}

}  // namespace

IngestSummary IngestEvents(Store& store, const std::string& project_dir, const std::string& sweep,
                           double now, double lease_seconds) {
  IngestSummary out;
  std::map<std::string, EventSummary> summaries;
  RunFilter filter;
  filter.sweep = sweep;
  for (const RunRow& row : store.ListRuns(filter)) {
    std::string path = EventsPath(RunDir(project_dir, row.id));
    if (!fs::exists(path)) continue;
    ++out.files;
    EventSummary s = SummarizeEvents(row.id, ReadEvents(path));
    out.metrics_inserted += store.InsertMetrics(s.metrics);
    out.evals_inserted += store.InsertEvals(s.evals);
    s.metrics.clear();
    s.evals.clear();
    summaries.emplace(row.id, std::move(s));
  }
  // Dependencies first: a text-LM run must be done before a run started from it can be claimed.
  for (size_t pass = 0; pass <= summaries.size(); ++pass) {
    bool changed = false;
    for (const auto& [id, s] : summaries) {
      std::optional<RunRow> row = store.GetRun(id);
      if (row && ApplySummary(store, *row, s, now, lease_seconds, out)) changed = true;
    }
    if (!changed) break;
  }
  if (out.runs_done + out.runs_failed + out.runs_started > 0) {
    Log(LogLevel::kDebug, "ingest: {} files, {} metrics, {} evals, {} started, {} done, {} failed",
        out.files, out.metrics_inserted, out.evals_inserted, out.runs_started, out.runs_done,
        out.runs_failed);
  }
  return out;
}

}  // namespace sims
