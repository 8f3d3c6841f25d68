#pragma once
// Small-file writes that never leave a half-written file behind: the content goes to
// `<path>.tmp.<pid>` and is renamed onto `path` (rename is atomic within one filesystem).
#include <string>
#include <string_view>

namespace sims::corpus {

std::string TempPathFor(const std::string& path);
void WriteFileAtomically(const std::string& path, std::string_view content);
std::string ReadWholeFile(const std::string& path);  // throws UserError naming the file

}  // namespace sims::corpus
