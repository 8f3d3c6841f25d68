#pragma once
// File and folder helpers shared by every library that writes to disk (vocab, manifests,
// reports, sweep copies, Slurm job files, corpus and report folders): a reader or a crash sees
// the old or the new content, never half of it. Call WriteFileAtomically / ReadWholeFile for one
// file, StagedFolder for a folder that is replaced whole (a corpus, a report).
// Not for: checkpoints (trainer/checkpoint.h writes its archives itself, fsynced) or the
// database (SQLite's own transactions).
#include <functional>
#include <string>
#include <string_view>

namespace sims {

// "<path>.tmp.<pid>": the temporary sibling a file is written to before its rename.
std::string TempPathFor(const std::string& path);

// Writes TempPathFor(path) and renames it onto `path` (atomic within one filesystem). Throws
// UserError naming the file when it cannot be written or renamed; no temporary is left behind.
void WriteFileAtomically(const std::string& path, std::string_view content);

// Renames a finished temporary file onto `path`; if that fails, removes the temporary and throws
// UserError naming both. For writers that stream into TempPathFor(path) themselves (shards).
void CommitTempFile(const std::string& temp, const std::string& path);

// Throws UserError naming the file if it cannot be read.
std::string ReadWholeFile(const std::string& path);

// ---- Folders replaced whole ----
//
// A folder NAME is built complete under the hidden sibling `.NAME.tmp.PID` (same parent, so the
// renames stay within one filesystem) and swapped in by StagedFolder::Commit:
//   rename 1   NAME          -> .NAME.old.PID   (only when NAME exists)
//   rename 2   .NAME.tmp.PID -> NAME
//   then       remove .NAME.old.PID
// Guarantee, for a process killed at any instant (SIGKILL, the OOM killer, a crash; not a power
// cut: nothing is fsynced): NAME holds the complete old folder or the complete new one, except
// between renames 1 and 2, when NAME is absent and the complete old folder is .NAME.old.PID. A
// mix of old and new files never appears at NAME. The next StagedFolder for NAME recovers what a
// killed process (its PID no longer running) left: a stranded .NAME.old.PID is renamed back to
// NAME when NAME is missing (the interrupted command did not finish, so the old folder is the
// valid state), and stranded .NAME.tmp.PID / .NAME.old.PID are removed. Two machines writing
// one NAME on a shared filesystem are not detected (the PID check is local).
//
// What may be replaced: a missing or empty NAME always; a non-empty one only when `replace` and
// `is_ours(NAME)` both hold (sims never deletes a folder it did not write). NAME must not be the
// current folder, one of its ancestors, or `/`. Paths are normalised lexically first, so
// "corpus/", "./corpus" and "a/../corpus" all name "corpus".

// The absolute, lexically normal form of `path` without a trailing '/': "out/" and "out/."
// give ".../out", "." gives the current folder.
std::string NormalizeFolderPath(const std::string& path);

struct StagedFolderOptions {
  std::string what = "folder";  // for messages: "corpus", "report"
  std::string flag = "--out";   // the option that named the folder, for hints
  bool replace = false;         // replace an existing non-empty folder (--force)
  // Whether an existing non-empty folder is one this writer made and so may be replaced.
  // Unset = never.
  std::function<bool(const std::string& dir)> is_ours;
  std::string is_ours_rule;     // what is_ours checks, for the refusal: "it has no corpus.json"
  // The option that allows replacing (--force); empty when `replace` is always set (the report).
  std::string replace_flag = "--force";
};

// A folder built in `.NAME.tmp.PID` and swapped in by Commit(). The constructor recovers what
// killed writers left, checks the rules above and creates the temporary folder; it throws
// UserError naming the folder (and the OS error) when they fail, before any work is done.
// Without Commit() (an exception) the destructor removes the temporary folder.
class StagedFolder {
 public:
  StagedFolder(const std::string& target, const StagedFolderOptions& options);
  ~StagedFolder();
  StagedFolder(const StagedFolder&) = delete;
  StagedFolder& operator=(const StagedFolder&) = delete;

  const std::string& path() const { return temp_; }          // write here
  const std::string& final_path() const { return target_; }  // NAME, normalised
  // `p` (under path()) as it will be named after Commit().
  std::string FinalPathOf(const std::string& p) const;
  // The swap above. Throws UserError naming both folders when a rename fails; then the old
  // folder is back at NAME.
  void Commit();

 private:
  std::string target_, temp_;
  bool committed_ = false;
};

// Test seam at the OS boundary (test-only, never set it otherwise): when the environment
// variable SIMS_TEST_KILL_AT_RENAME=N is set, StagedFolder::Commit raises SIGKILL in its own
// process once N of its renames are done (N = 0: right before the first; 1: after NAME moved to
// .NAME.old.PID, or after the new folder moved in when there was no old one; 2: after the new
// folder moved in, before the old one is removed). Tests use it to check the guarantee above.
inline constexpr const char* kKillAtRenameVariable = "SIMS_TEST_KILL_AT_RENAME";

}  // namespace sims
