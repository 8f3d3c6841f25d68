#pragma once
// The frame every `sims` subcommand plugs into. A subcommand lives in its own file
// (orchestrator/cli/cmd_<name>.cpp) with: an options struct with defaulted members, a
// Setup<Name>Command(CLI::App*, GlobalOptions&) that binds CLI11 options and sets the callback,
// and a Run<Name>(options, global) function that tests can call without argv.
// main.cpp keeps the table of subcommands.
#include <iosfwd>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/names.h"

namespace sims {

struct GlobalOptions {
  std::string db = "sims.db";      // the project's SQLite file
  std::string log_level = "info";  // debug | info | warn | error | quiet
};

// A CLI11 check that an option's value is a valid name of `kind` (common/names.h): every flag
// that takes a sweep, condition or run name has one, so a bad name stops at the command line.
CLI::Validator NameCheck(NameKind kind);

// Output format of commands that print data.
enum class Format { kTable, kJson, kCsv };

// Adds `--format` to `cmd`, restricted to `allowed` (e.g. {"table", "json"}).
void AddFormatOption(CLI::App* cmd, Format& format, const std::vector<std::string>& allowed);

// A plain-text table with aligned columns, for --format table.
void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);
// RFC 4180 CSV, for --format csv.
void PrintCsv(std::ostream& out, const std::vector<std::string>& header,
              const std::vector<std::vector<std::string>>& rows);

}  // namespace sims
