// sims export: dump one table of the database, every column, as CSV or JSON lines-free array.
#include <iostream>

#include <SQLiteCpp/SQLiteCpp.h>
#include <nlohmann/json.hpp>

#include "orchestrator/cli/commands.h"
#include "results/store.h"

namespace sims {
namespace {

struct ExportOptions {
  std::string table = "runs";  // runs | metrics | evals | fits | sweeps
  std::string sweep;           // only rows of this sweep (runs, metrics, evals)
  Format format = Format::kCsv;
};

std::string ExportQuery(const ExportOptions& o) {
  if (o.table == "runs") {
    return "SELECT r.*, s.name AS sweep FROM runs r JOIN sweeps s ON s.id = r.sweep_id "
           "WHERE (?1 = '' OR s.name = ?1) ORDER BY r.rowid";
  }
  if (o.table == "metrics" || o.table == "evals") {
    return "SELECT t.* FROM " + o.table +
           " t JOIN runs r ON r.id = t.run_id JOIN sweeps s ON s.id = r.sweep_id "
           "WHERE (?1 = '' OR s.name = ?1) ORDER BY t.rowid";
  }
  return "SELECT * FROM " + o.table + " WHERE ?1 = ?1 ORDER BY rowid";
}

void RunExport(const ExportOptions& options, const GlobalOptions& global, std::ostream& out) {
  Store store = Store::Open(global.db, OpenMode::kExisting);
  SQLite::Statement st(store.db(), ExportQuery(options));
  st.bind(1, options.sweep);
  std::vector<std::string> header;
  for (int c = 0; c < st.getColumnCount(); ++c) header.push_back(st.getColumnName(c));
  std::vector<std::vector<std::string>> rows;
  nlohmann::json json = nlohmann::json::array();
  while (st.executeStep()) {
    std::vector<std::string> row;
    nlohmann::json object;
    for (int c = 0; c < st.getColumnCount(); ++c) {
      SQLite::Column col = st.getColumn(c);
      if (col.isInteger()) {
        object[header[c]] = col.getInt64();
      } else if (col.isFloat()) {
        object[header[c]] = col.getDouble();
      } else if (col.isNull()) {
        object[header[c]] = nullptr;
      } else {
        object[header[c]] = col.getString();
      }
      row.push_back(col.isNull() ? "" : col.getString());
    }
    rows.push_back(std::move(row));
    json.push_back(std::move(object));
  }
  if (options.format == Format::kJson) {
    out << json.dump(2) << '\n';
  } else {
    PrintCsv(out, header, rows);
  }
}

}  // namespace

void SetupExportCommand(CLI::App* cmd, GlobalOptions& global) {
  auto options = std::make_shared<ExportOptions>();
  cmd->add_option("--table", options->table, "Table to export")
      ->check(CLI::IsMember({"runs", "metrics", "evals", "fits", "sweeps"}))
      ->capture_default_str();
  cmd->add_option("--sweep", options->sweep, "Only rows of this sweep (runs, metrics, evals)")
      ->check(NameCheck(NameKind::kSweep));
  AddFormatOption(cmd, options->format, {"csv", "json"});
  cmd->callback([options, &global] { RunExport(*options, global, std::cout); });
}

}  // namespace sims
