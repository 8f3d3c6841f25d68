#pragma once
// Per-run event files: how a worker that must not touch SQLite (a Slurm task on shared storage)
// reports, and how the orchestrator loads those reports into the database.
//
// A worker in events mode appends to `<project>/runs/<id>/events.jsonl`, one JSON object per
// line, each line fsync'd before the worker goes on (EventLog). `IngestEvents` reads every such
// file and applies it to the store; it is idempotent (a line ingested twice is one row, a run
// already done stays done), so `sims ingest`, `sims status` and `sims run --watch` may all call
// it as often as they like.
//
// Event format, version 1 (the "v" field of every line):
//   {"v":1,"event":"start","time":T,"worker":"slurm:123_4","attempt":K}
//   {"v":1,"event":"metric","step":S,"tokens":N,"name":"train/loss","value":X}
//   {"v":1,"event":"eval","step":S,"task":"sblimp/speech","accuracy":A,"n_pairs":P}
//   {"v":1,"event":"progress","time":T,"step":S}
//   {"v":1,"event":"stopped","time":T,"step":S}      (graceful stop: requeue/preemption)
//   {"v":1,"event":"done","time":T}
//   {"v":1,"event":"failed","time":T,"error":"..."}
// A process killed mid-write leaves a last line without a newline; the next writer ends it
// with a newline before its own lines, and readers skip (with a warning naming file:line) any
// line that is not a JSON object, or whose fields have the wrong type for its event (a hand
// edit: "step":"two", a count past 2^63, a non-finite value, an unknown event). Skipping keeps
// the database consistent: metrics are unique per run/step/name, so a line fixed and ingested
// later is counted once.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "results/store.h"

namespace sims {

inline constexpr int kEventsVersion = 1;

// The kinds of event line; EventKindName is each one's spelling in the "event" field.
enum class EventKind { kStart, kMetric, kEval, kProgress, kStopped, kDone, kFailed, kRetry };
std::string_view EventKindName(EventKind kind);
std::optional<EventKind> ParseEventKind(std::string_view name);  // nullopt: no such event

// One event line, its kind parsed once where it is read (ReadEvents); `fields` is the object.
struct Event {
  EventKind kind = EventKind::kProgress;
  nlohmann::json fields;
};
// {"event": <kind>, ...fields}, ready for EventLog::Append.
nlohmann::json MakeEvent(EventKind kind, nlohmann::json fields = nlohmann::json::object());

// `<project>/runs/<run_id>`; the project directory is the folder holding the database.
std::string ProjectDir(const std::string& db_path);
std::string RunDir(const std::string& project_dir, const std::string& run_id);
std::string EventsPath(const std::string& run_dir);

// Appends events to one file; thread-safe (the heartbeat thread and the trainer share it).
class EventLog {
 public:
  explicit EventLog(const std::string& path);  // throws UserError if it cannot be opened
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;
  // Writes every object as one line, then one fsync. "v" is added.
  void Append(const std::vector<nlohmann::json>& events);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::mutex mutex_;
};

// The events of a file, torn and malformed lines skipped (each with a warning naming file:line).
// Throws UserError naming file and line for a line of a newer format version.
std::vector<Event> ReadEvents(const std::string& path);

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
