#pragma once
// Whole-file helpers shared by every library that writes small files (vocab, manifests, reports,
// sweep copies, Slurm job files): a reader or a crash sees the old or the new content, never
// half of it. Call WriteFileAtomically / ReadWholeFile.
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

}  // namespace sims
