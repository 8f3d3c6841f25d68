#pragma once
// Directories that appear whole or not at all (the corpus' shards, vocab and manifest). Single
// files are written with WriteFileAtomically (common/files.h), re-exported here.
#include <string>

#include "common/files.h"

namespace sims::corpus {

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
