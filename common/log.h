#pragma once
// Logging to stderr with a level set once by the CLI (--log-level). Data goes to stdout;
// progress and diagnostics go here, so `sims status --format json | jq` stays clean.
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace sims {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3, kQuiet = 4 };

// The process-wide level. Set by main() from --log-level; tests leave it at kInfo.
LogLevel& CurrentLogLevel();
// Parses "debug|info|warn|error|quiet"; throws UserError naming the value otherwise.
LogLevel ParseLogLevel(const std::string& text);

template <typename... Args>
void Log(LogLevel level, fmt::format_string<Args...> format, Args&&... args) {
  if (level < CurrentLogLevel()) return;
  std::string line = fmt::format(format, std::forward<Args>(args)...);
  std::fputs(line.c_str(), stderr);
  std::fputc('\n', stderr);
}

}  // namespace sims
