// sims status: where every run of a project stands, from the database alone (no scheduler is
// asked). Events files of Slurm runs are ingested first, so the answer is current there too.
#include <filesystem>
#include <iostream>
#include <map>

#include <SQLiteCpp/SQLiteCpp.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/commands.h"
#include "orchestrator/ingest.h"
#include "orchestrator/pool.h"
#include "results/store.h"

namespace sims {

struct StatusOptions {
  std::string sweep;      // empty: every sweep
  std::string condition;  // empty: every condition
  std::string status;     // empty: every status
  bool ingest = true;     // load Slurm events files first
  Format format = Format::kTable;
};

namespace {

// Last train/loss of every run, in one query.
std::map<std::string, double> LastLosses(Store& store) {
  SQLite::Statement st(store.db(), R"sql(
SELECT m.run_id, m.value FROM metrics m
JOIN (SELECT run_id, MAX(step) AS step FROM metrics WHERE name = 'train/loss' GROUP BY run_id) l
  ON l.run_id = m.run_id AND l.step = m.step
WHERE m.name = 'train/loss')sql");
  std::map<std::string, double> out;
  while (st.executeStep()) out[st.getColumn(0).getString()] = st.getColumn(1).getDouble();
  return out;
}

bool AnyEventsFile(const std::string& project) {
  std::error_code ec;
  std::filesystem::path runs = std::filesystem::path(project) / "runs";
  if (!std::filesystem::is_directory(runs, ec)) return false;
  for (const auto& entry : std::filesystem::directory_iterator(runs, ec)) {
    if (std::filesystem::exists(entry.path() / "events.jsonl", ec)) return true;
  }
  return false;
}

}  // namespace

void RunStatus(const StatusOptions& o, const GlobalOptions& global, std::ostream& out) {
  Store store = Store::Open(global.db, OpenMode::kExisting);
  std::string project = ProjectDir(global.db);
  if (o.ingest && AnyEventsFile(project)) {
    // Status answers from the database even when an events file cannot be ingested (a file
    // of a newer format, an unreadable file): the user sees why, and the runs as they stand.
    try {
      IngestEvents(store, project, o.sweep, NowSeconds(), 7 * 86400.0);
    } catch (const UserError& e) {
      Log(LogLevel::kWarn, "status: events not ingested, showing the database as it is: {}",
          e.what());
    }
  }
  std::vector<RunRow> runs = store.ListRuns(
      {o.sweep, o.condition,
       o.status.empty() ? std::nullopt : std::optional(RunStatusFromString(o.status))});
  std::map<std::string, double> losses = LastLosses(store);
  std::vector<std::string> header = {"id",   "sweep",    "condition", "N",    "D",     "status",
                                     "attempt", "progress", "last_loss", "error"};
  if (o.format == Format::kJson) {
    nlohmann::json rows = nlohmann::json::array();
    for (const RunRow& r : runs) {
      nlohmann::json j = {{"id", r.id},           {"sweep", r.sweep},   {"condition", r.condition},
                          {"n_params", r.n_params}, {"tokens", r.tokens}, {"status", ToString(r.status)},
                          {"attempt", r.attempt}, {"step", r.last_step}, {"steps", r.total_steps},
                          {"flops", r.flops},     {"worker", r.worker}, {"error", r.error}};
      auto loss = losses.find(r.id);
      j["last_loss"] = loss == losses.end() ? nlohmann::json(nullptr) : nlohmann::json(loss->second);
      rows.push_back(std::move(j));
    }
    out << rows.dump(2) << '\n';
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const RunRow& r : runs) {
    auto loss = losses.find(r.id);
    std::string error = r.error;
    if (o.format == Format::kTable && error.size() > 60) error = error.substr(0, 57) + "...";
    rows.push_back({r.id, r.sweep, r.condition, fmt::format("{:.3g}", double(r.n_params)),
                    fmt::format("{:.3g}", double(r.tokens)), ToString(r.status), std::to_string(r.attempt),
                    fmt::format("{}/{}", r.last_step, r.total_steps),
                    loss == losses.end() ? "" : fmt::format("{:.4f}", loss->second), error});
  }
  if (o.format == Format::kCsv) {
    PrintCsv(out, header, rows);
    return;
  }
  PrintTable(out, header, rows);
  out << FormatProgress(ComputeProgress(runs), 0) << '\n';
}

void SetupStatusCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<StatusOptions>();
  cmd->add_option("--sweep", o->sweep, "Only runs of this sweep")
      ->check(NameCheck(NameKind::kSweep));
  cmd->add_option("--condition", o->condition, "Only runs of this condition")
      ->check(NameCheck(NameKind::kCondition));
  cmd->add_option("--status", o->status, "Only runs in this state")
      ->check(CLI::IsMember({"planned", "running", "done", "failed"}));
  cmd->add_flag("!--no-ingest", o->ingest, "Do not load Slurm events files first");
  AddFormatOption(cmd, o->format, {"table", "json", "csv"});
  cmd->callback([o, &global] { RunStatus(*o, global, std::cout); });
}

}  // namespace sims
