#include "orchestrator/cli/cli.h"

#include <algorithm>
#include <map>
#include <ostream>

#include "common/error.h"

namespace sims {

CLI::Validator NameCheck(NameKind kind) {
  // CLI11 prefixes the message with the option's name; an empty name and description keep
  // --help (and docs/cli.md) as they were.
  return CLI::Validator(
      [kind](std::string& value) -> std::string {
        try {
          ValidateName(kind, value, "");
        } catch (const UserError& e) {
          return e.what();
        }
        return "";
      },
      "", "");
}

void AddFormatOption(CLI::App* cmd, Format& format, const std::vector<std::string>& allowed) {
  static const std::map<std::string, Format> kAll = {
      {"table", Format::kTable}, {"json", Format::kJson}, {"csv", Format::kCsv}};
  std::map<std::string, Format> choices;
  for (const std::string& name : allowed) choices.emplace(name, kAll.at(name));
  cmd->add_option("--format", format, "Output format")
      ->transform(CLI::CheckedTransformer(choices, CLI::ignore_case))
      ->default_str(allowed.front());
}

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t c = 0; c < header.size(); ++c) width[c] = header[c].size();
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], row[c].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < width.size(); ++c) {
      std::string cell = c < cells.size() ? cells[c] : "";
      out << cell;
      if (c + 1 < width.size()) out << std::string(width[c] - cell.size() + 2, ' ');
    }
    out << '\n';
  };
  line(header);
  std::vector<std::string> rule;
  for (size_t w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows) line(row);
}

namespace {
std::string CsvField(const std::string& field) {
  if (field.find_first_of(",\"\n\r") == std::string::npos) return field;
  std::string quoted = "\"";
  for (char ch : field) {
    if (ch == '"') quoted += '"';
    quoted += ch;
  }
  return quoted + "\"";
}
}  // namespace

void PrintCsv(std::ostream& out, const std::vector<std::string>& header,
              const std::vector<std::vector<std::string>>& rows) {
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) out << (c ? "," : "") << CsvField(cells[c]);
    out << '\n';
  };
  line(header);
  for (const auto& row : rows) line(row);
}

}  // namespace sims
