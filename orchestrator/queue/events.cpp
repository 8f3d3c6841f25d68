#include "orchestrator/queue/events.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "common/names.h"

namespace sims {

using nlohmann::json;

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

constexpr std::pair<EventKind, std::string_view> kEventNames[] = {
    {EventKind::kStart, "start"},   {EventKind::kMetric, "metric"},
    {EventKind::kEval, "eval"},     {EventKind::kProgress, "progress"},
    {EventKind::kStopped, "stopped"}, {EventKind::kDone, "done"},
    {EventKind::kFailed, "failed"}, {EventKind::kRetry, "retry"}};

}  // namespace

std::string_view EventKindName(EventKind kind) {
  for (const auto& [k, name] : kEventNames) {
    if (k == kind) return name;
  }
  throw std::logic_error("EventKindName: an EventKind without a name");
}

std::optional<EventKind> ParseEventKind(std::string_view name) {
  for (const auto& [kind, n] : kEventNames) {
    if (n == name) return kind;
  }
  return std::nullopt;
}

json MakeEvent(EventKind kind, json fields) {
  fields["event"] = EventKindName(kind);
  return fields;
}

namespace {

// Why an event line cannot be used, or "" when it can (then `kind` is its kind): the fields each
// event kind needs, with their JSON types, so that SummarizeEvents never meets a value it cannot
// convert.
std::string EventProblem(const json& e, EventKind& kind) {
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
  const std::string& name = e["event"].get_ref<const std::string&>();
  std::optional<EventKind> parsed = ParseEventKind(name);
  if (!parsed) return fmt::format("unknown event {}", EscapedForMessage(name.substr(0, 40)));
  kind = *parsed;
  struct Field {
    const char* key;
    const char* type;
    bool required;  // optional ones have defaults in SummarizeEvents
  };
  std::vector<Field> fields;
  switch (kind) {
    case EventKind::kStart:
      fields = {{"worker", "a one-line string", false}, {"attempt", "a count", false}};
      break;
    case EventKind::kMetric:
      fields = {{"step", "a count", true}, {"tokens", "a count", true},
                {"name", "a one-line string", true}, {"value", "a number", true}};
      break;
    case EventKind::kEval:
      fields = {{"step", "a count", true}, {"task", "a one-line string", true},
                {"accuracy", "a number", true}, {"n_pairs", "a count", true}};
      break;
    case EventKind::kProgress:
    case EventKind::kStopped:
      fields = {{"step", "a count", false}};
      break;
    case EventKind::kFailed:
      fields = {{"error", "a string", false}};
      break;
    case EventKind::kDone:
    case EventKind::kRetry:
      break;
  }
  for (const Field& f : fields) {
    if (problem = need(f.key, f.type, f.required); !problem.empty()) return problem;
  }
  if (kind == EventKind::kMetric && e["name"].get_ref<const std::string&>().empty()) {
    return "\"name\" is empty";
  }
  if (kind == EventKind::kEval && e["task"].get_ref<const std::string&>().empty()) {
    return "\"task\" is empty";
  }
  return "";
}

}  // namespace

std::vector<Event> ReadEvents(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("events file {}: cannot be read", path));
  std::string content((std::istreambuf_iterator<char>(in)), {});
  std::vector<Event> out;
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
    EventKind kind{};
    if (const std::string problem = EventProblem(e, kind); !problem.empty()) {
      Log(LogLevel::kWarn, "events file {}:{}: skipped: {}", path, line, problem);
      continue;
    }
    out.push_back({kind, std::move(e)});
  }
  return out;
}

}  // namespace sims
