#include "common/files.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"

namespace sims {

std::string TempPathFor(const std::string& path) {
  return fmt::format("{}.tmp.{}", path, static_cast<long>(::getpid()));
}

void WriteFileAtomically(const std::string& path, std::string_view content) {
  const std::string temp = TempPathFor(path);
  std::FILE* f = std::fopen(temp.c_str(), "wb");
  if (f == nullptr) {
    throw UserError(fmt::format("cannot write {}: {}", temp, std::strerror(errno)));
  }
  const bool ok = std::fwrite(content.data(), 1, content.size(), f) == content.size();
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) {
    std::remove(temp.c_str());
    throw UserError(fmt::format("cannot write {} (disk full?)", temp));
  }
  CommitTempFile(temp, path);
}

void CommitTempFile(const std::string& temp, const std::string& path) {
  std::error_code ec;
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    std::remove(temp.c_str());
    throw UserError(fmt::format("cannot rename {} to {}: {}", temp, path, ec.message()));
  }
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("cannot read {}: no such file or not readable", path));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace sims
