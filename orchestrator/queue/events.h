#pragma once
// The events file format: how a worker that must not touch SQLite (a Slurm task on shared
// storage) reports. It appends to `<project>/runs/<id>/events.jsonl` with EventLog, one JSON
// object per line, each batch fsync'd before the worker goes on; ReadEvents reads a file back
// with each line's kind parsed once. What the lines mean for a run, and loading them into the
// store, is ingest.h.
//
// Event format, version 1 (the "v" field of every line):
//   {"v":1,"event":"start","time":T,"worker":"slurm:123_4","attempt":K}
//   {"v":1,"event":"metric","step":S,"tokens":N,"name":"train/loss","value":X}
//   {"v":1,"event":"eval","step":S,"task":"sblimp/speech","accuracy":A,"n_pairs":P}
//   {"v":1,"event":"progress","time":T,"step":S}
//   {"v":1,"event":"stopped","time":T,"step":S}      (graceful stop: requeue/preemption)
//   {"v":1,"event":"done","time":T}
//   {"v":1,"event":"failed","time":T,"error":"..."}
//   {"v":1,"event":"retry","time":T}                  (sims runs retry: earlier outcome void)
// A process killed mid-write leaves a last line without a newline; the next writer ends it
// with a newline before its own lines, and readers skip (with a warning naming file:line) any
// line that is not a JSON object, or whose fields have the wrong type for its event (a hand
// edit: "step":"two", a count past 2^63, a non-finite value, an unknown event). Skipping keeps
// the database consistent: metrics are unique per run/step/name, so a line fixed and ingested
// later is counted once.
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

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

}  // namespace sims
