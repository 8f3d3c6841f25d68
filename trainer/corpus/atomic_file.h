#pragma once
// Small-file writes that never leave a half-written file behind: the content goes to
// `<path>.tmp.<pid>` and is renamed onto `path` (rename is atomic within one filesystem).
#include <string>
#include <string_view>

namespace sims::corpus {

std::string TempPathFor(const std::string& path);
void WriteFileAtomically(const std::string& path, std::string_view content);
std::string ReadWholeFile(const std::string& path);  // throws UserError naming the file

// A directory built under a hidden sibling name (`.<name>.tmp.<pid>`) and renamed into place by
// Commit(), so a corpus directory is either complete or absent. Without Commit() (an exception)
// the destructor removes the temporary directory. The constructor throws UserError if
// `final_dir` exists and is not empty, unless `overwrite`.
class StagedDirectory {
 public:
  StagedDirectory(const std::string& final_dir, bool overwrite);
  ~StagedDirectory();
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;
  const std::string& path() const { return temp_; }  // write here
  const std::string& final_path() const { return final_; }
  void Commit();

 private:
  std::string final_, temp_;
  bool committed_ = false;
};

}  // namespace sims::corpus
