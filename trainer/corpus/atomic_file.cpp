#include "trainer/corpus/atomic_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::corpus {

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

StagedDirectory::StagedDirectory(const std::string& final_dir, bool overwrite) {
  namespace fs = std::filesystem;
  const fs::path out = fs::absolute(final_dir).lexically_normal();
  if (fs::exists(out) && (!fs::is_directory(out) || (!fs::is_empty(out) && !overwrite))) {
    throw UserError(fmt::format("{} exists and is not an empty directory; hint: pass --force to "
                                "replace it, or choose another --out",
                                out.string()));
  }
  final_ = out.string();
  temp_ = (out.parent_path() / fmt::format(".{}.tmp.{}", out.filename().string(),
                                           static_cast<long>(::getpid())))
              .string();
  fs::remove_all(temp_);
  fs::create_directories(temp_);
}

StagedDirectory::~StagedDirectory() {
  if (!committed_) {
    std::error_code ignored;  // best effort: a destructor must not throw
    std::filesystem::remove_all(temp_, ignored);
  }
}

void StagedDirectory::Commit() {
  namespace fs = std::filesystem;
  if (fs::exists(final_)) fs::remove_all(final_);
  std::error_code ec;
  fs::rename(temp_, final_, ec);
  if (ec) {
    throw UserError(fmt::format("cannot rename {} to {}: {}", temp_, final_, ec.message()));
  }
  committed_ = true;
}

}  // namespace sims::corpus
