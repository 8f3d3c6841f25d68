#include "trainer/corpus/atomic_file.h"

#include <unistd.h>

#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::corpus {

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
