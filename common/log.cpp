#include "common/log.h"

#include "common/error.h"

namespace sims {

LogLevel& CurrentLogLevel() {
  static LogLevel level = LogLevel::kInfo;
  return level;
}

LogLevel ParseLogLevel(const std::string& text) {
  if (text == "debug") return LogLevel::kDebug;
  if (text == "info") return LogLevel::kInfo;
  if (text == "warn") return LogLevel::kWarn;
  if (text == "error") return LogLevel::kError;
  if (text == "quiet") return LogLevel::kQuiet;
  throw UserError(fmt::format("--log-level: '{}' is not one of debug, info, warn, error, quiet",
                              text));
}

}  // namespace sims
