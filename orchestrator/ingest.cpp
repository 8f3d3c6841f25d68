#include "orchestrator/ingest.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "common/names.h"

namespace sims {

namespace fs = std::filesystem;
using nlohmann::json;

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

EventLog::EventLog(const std::string& path) : path_(path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw UserError(fmt::format("events file {}: cannot open for append ({})\nhint: the run "
                                "directory must be on writable shared storage",
                                path, std::strerror(errno)));
  }
  // A writer killed mid-line left a torn last line: start ours on a fresh line so both parse.
  off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size > 0) {
    char last = '\n';
    int rd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (rd >= 0) {
      if (::pread(rd, &last, 1, size - 1) != 1) last = '\n';
      ::close(rd);
    }
    if (last != '\n' && ::write(fd_, "\n", 1) != 1) {
      throw UserError(fmt::format("events file {}: write failed ({})", path, std::strerror(errno)));
    }
  }
}

EventLog::~EventLog() {
  if (fd_ >= 0) ::close(fd_);
}

void EventLog::Append(const std::vector<json>& events) {
  std::string text;
  for (json e : events) {
    e["v"] = kEventsVersion;
    text += e.dump();
    text += '\n';
  }
  std::lock_guard<std::mutex> lock(mutex_);
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      throw UserError(
          fmt::format("events file {}: write failed ({})", path_, std::strerror(errno)));
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  // fsync per batch, not per line: a batch is one emit of the trainer (a handful of metrics).
  if (::fsync(fd_) != 0) {
    throw UserError(fmt::format("events file {}: fsync failed ({})", path_, std::strerror(errno)));
  }
}

namespace {

// Why an event line cannot be used, or "" when it can: the fields each event kind needs, with
// their JSON types, so that SummarizeEvents never meets a value it cannot convert.
std::string EventProblem(const json& e) {
  auto need = [&](const char* key, const char* type, bool required) -> std::string {
    auto it = e.find(key);
    if (it == e.end()) return required ? fmt::format("no \"{}\" ({} expected)", key, type) : "";
    const std::string_view t = type;
    bool ok = false;
    if (t == "a count") {
      // Steps, tokens and pair counts: whole, non-negative and within int64.
      ok = it->is_number_integer() && (it->is_number_unsigned()
                                           ? it->get<uint64_t>() <= uint64_t{INT64_MAX}
                                           : it->get<int64_t>() >= 0);
    } else if (t == "a number") {
      ok = it->is_number() && std::isfinite(it->get<double>());
    } else if (t == "a string") {
      ok = it->is_string();
    } else if (t == "a one-line string") {
      // Metric and task names and worker names end up in tables and plot titles.
      ok = it->is_string();
      if (ok) {
        for (char c : it->get_ref<const std::string&>()) {
          if (static_cast<unsigned char>(c) < 0x20) {
            return fmt::format("\"{}\" holds a control character", key);
          }
        }
      }
    }
    if (ok) return "";
    return fmt::format("\"{}\" is {}, expected {}", key, it->dump().substr(0, 40), type);
  };
  std::string problem = need("v", "a count", false);
  if (problem.empty()) problem = need("event", "a string", true);
  if (!problem.empty()) return problem;
  if (problem = need("time", "a number", false); !problem.empty()) return problem;
  const std::string kind = e["event"].get<std::string>();
  struct Field {
    const char* key;
    const char* type;
    bool required;  // optional ones have defaults in SummarizeEvents
  };
  std::vector<Field> fields;
  if (kind == "start") {
    fields = {{"worker", "a one-line string", false}, {"attempt", "a count", false}};
  } else if (kind == "metric") {
    fields = {{"step", "a count", true}, {"tokens", "a count", true},
              {"name", "a one-line string", true}, {"value", "a number", true}};
  } else if (kind == "eval") {
    fields = {{"step", "a count", true}, {"task", "a one-line string", true},
              {"accuracy", "a number", true}, {"n_pairs", "a count", true}};
  } else if (kind == "progress" || kind == "stopped") {
    fields = {{"step", "a count", false}};
  } else if (kind == "failed") {
    fields = {{"error", "a string", false}};
  } else if (kind != "done" && kind != "retry") {
    return fmt::format("unknown event {}", EscapedForMessage(kind.substr(0, 40)));
  }
  for (const Field& f : fields) {
    if (problem = need(f.key, f.type, f.required); !problem.empty()) return problem;
  }
  if ((kind == "metric" && e["name"].get_ref<const std::string&>().empty()) ||
      (kind == "eval" && e["task"].get_ref<const std::string&>().empty())) {
    return kind == "metric" ? "\"name\" is empty" : "\"task\" is empty";
  }
  return "";
}

}  // namespace

std::vector<json> ReadEvents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("events file {}: cannot be read", path));
  std::string content((std::istreambuf_iterator<char>(in)), {});
  std::vector<json> out;
  size_t begin = 0;
  int line = 0;
  while (begin < content.size()) {
    size_t end = content.find('\n', begin);
    ++line;
    if (end == std::string::npos) break;  // torn last line: the writer died mid-write
    std::string_view text(content.data() + begin, end - begin);
    begin = end + 1;
    if (text.empty()) continue;
    json e = json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (e.is_discarded() || !e.is_object()) {
      // A line torn by a killed writer, which the next writer ended with its own newline.
      Log(LogLevel::kWarn, "events file {}:{}: skipped, not a JSON object: {}", path, line,
          std::string(text.substr(0, 200)));
      continue;
    }
    if (const auto v = e.find("v"); v != e.end() && v->is_number_integer() &&
                                    (v->is_number_unsigned() || v->get<int64_t>() > 0) &&
                                    v->get<uint64_t>() > uint64_t{kEventsVersion}) {
      throw UserError(fmt::format("events file {}:{}: version {} is newer than this sims ({})\n"
                                  "hint: ingest with the sims binary the workers ran",
                                  path, line, v->dump(), kEventsVersion));
    }
    // A line that parses but is not an event of this format (a hand edit, a mistyped field) is
    // skipped like a torn one: its metric is not inserted, and re-ingesting after a fix inserts
    // it once (metrics are unique per run, step and name), so nothing is ever counted twice.
    if (const std::string problem = EventProblem(e); !problem.empty()) {
      Log(LogLevel::kWarn, "events file {}:{}: skipped: {}", path, line, problem);
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

EventSummary SummarizeEvents(const std::string& run_id, const std::vector<json>& events) {
  EventSummary s;
  for (const json& e : events) {
    const std::string kind = e.value("event", "");
    if (e.contains("time")) s.last_time = e.value("time", 0.0);
    if (kind == "start") {
      s.started = true;
      s.worker = e.value("worker", "slurm");
      s.terminal.clear();
      s.error.clear();
    } else if (kind == "retry") {
      // Written by `sims runs retry`: what came before no longer decides the state.
      s.started = false;
      s.terminal.clear();
      s.error.clear();
    } else if (kind == "metric") {
      s.metrics.push_back({run_id, e.value("step", int64_t{0}), e.value("tokens", int64_t{0}),
                           e.value("name", ""), e.value("value", 0.0)});
    } else if (kind == "eval") {
      s.evals.push_back({run_id, e.value("step", int64_t{0}), e.value("task", ""),
                         e.value("accuracy", 0.0), e.value("n_pairs", int64_t{0})});
    } else if (kind == "progress" || kind == "stopped") {
      s.step = std::max(s.step, e.value("step", int64_t{0}));
    } else if (kind == "done") {
      s.terminal = "done";
      ++s.done_events;
    } else if (kind == "failed") {
      s.terminal = "failed";
      s.error = e.value("error", "");
    }
  }
  return s;
}

namespace {

// Applies one run's summary to its row; true if the row changed. Claiming needs the run's
// dependencies done, so the caller repeats passes until nothing changes.
bool ApplySummary(Store& store, const RunRow& row, const EventSummary& s, double now,
                  double lease_seconds, IngestSummary& out) {
  if (!s.started || row.status == RunStatus::kDone) return false;
  if (row.status == RunStatus::kFailed) {
    // A failed row with a later outcome in the file: the events are what happened, unless the
    // user cancelled the run (then their word stands).
    if (s.terminal != "done" || row.error == "cancelled by user") return false;
    store.RetryRun(row.id);
  }
  std::string worker = row.worker;
  if (row.status != RunStatus::kRunning) {
    std::string claimant = s.worker.empty() ? "slurm" : s.worker;
    if (!store.ClaimRun(claimant, now, lease_seconds, "", row.id)) return false;
    worker = claimant;
    ++out.runs_started;
  }
  if (s.terminal == "done") {
    store.Heartbeat(row.id, worker, now, lease_seconds, s.step);
    if (store.FinishRun(row.id, worker, now)) ++out.runs_done;
  } else if (s.terminal == "failed") {
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
