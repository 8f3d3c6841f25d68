// sims export: dump one table of the database, every column, as CSV or JSON lines-free array.
#include <iostream>
#include <map>

#include <nlohmann/json.hpp>

#include "orchestrator/cli/commands.h"
#include "results/store.h"

namespace sims {
namespace {

struct ExportOptions {
  std::string table = "runs";  // runs | metrics | evals | fits | sweeps | proposals
  std::string sweep;           // only rows of this sweep (runs, metrics, evals, proposals)
  Format format = Format::kCsv;
};

StoredTable ParseTable(const std::string& name) {
  static const std::map<std::string, StoredTable> kTables = {
      {"runs", StoredTable::kRuns},   {"metrics", StoredTable::kMetrics},
      {"evals", StoredTable::kEvals}, {"fits", StoredTable::kFits},
      {"sweeps", StoredTable::kSweeps}, {"proposals", StoredTable::kProposals}};
  return kTables.at(name);  // CLI11 admits only these names
}

void RunExport(const ExportOptions& options, const GlobalOptions& global, std::ostream& out) {
  Store store = Store::Open(global.db, OpenMode::kExisting);
  TableDump dump = store.DumpTable(ParseTable(options.table), options.sweep);
  if (options.format == Format::kJson) {
    nlohmann::json json = nlohmann::json::array();
    for (const std::vector<TableCell>& row : dump.rows) {
      nlohmann::json object;
      for (size_t c = 0; c < row.size(); ++c) {
        const TableCell& cell = row[c];
        switch (cell.kind) {
          case TableCell::Kind::kInteger: object[dump.columns[c]] = cell.integer; break;
          case TableCell::Kind::kReal: object[dump.columns[c]] = cell.real; break;
          case TableCell::Kind::kText: object[dump.columns[c]] = cell.text; break;
          case TableCell::Kind::kNull: object[dump.columns[c]] = nullptr; break;
        }
      }
      json.push_back(std::move(object));
    }
    out << json.dump(2) << '\n';
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const std::vector<TableCell>& row : dump.rows) {
    std::vector<std::string>& texts = rows.emplace_back();
    for (const TableCell& cell : row) texts.push_back(cell.text);
  }
  PrintCsv(out, dump.columns, rows);
}

}  // namespace

void SetupExportCommand(CLI::App* cmd, GlobalOptions& global) {
  auto options = std::make_shared<ExportOptions>();
  cmd->add_option("--table", options->table, "Table to export")
      ->check(CLI::IsMember({"runs", "metrics", "evals", "fits", "sweeps", "proposals"}))
      ->capture_default_str();
  cmd->add_option("--sweep", options->sweep,
                  "Only rows of this sweep (runs, metrics, evals, proposals)")
      ->check(NameCheck(NameKind::kSweep));
  AddFormatOption(cmd, options->format, {"csv", "json"});
  cmd->callback([options, &global] { RunExport(*options, global, std::cout); });
}

}  // namespace sims
