#include "trainer/corpus/atomic_file.h"

#include <filesystem>

#include <nlohmann/json.hpp>

namespace sims::corpus {

bool IsCorpusFolder(const std::string& dir) {
  const std::string manifest = (std::filesystem::path(dir) / "corpus.json").string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(manifest, ec)) return false;
  try {
    const nlohmann::json j = nlohmann::json::parse(ReadWholeFile(manifest));
    return j.is_object() && j.contains("format") && j["format"].is_string() &&
           j["format"].get<std::string>().starts_with("sims-corpus");
  } catch (const std::exception&) {
    return false;  // unreadable or not JSON: not provably ours, so it is not replaced
  }
}

StagedFolderOptions CorpusFolderOptions(bool overwrite) {
  StagedFolderOptions o;
  o.what = "corpus";
  o.replace = overwrite;
  o.is_ours = IsCorpusFolder;
  o.is_ours_rule = "it has no corpus.json of format sims-corpus";
  return o;
}

}  // namespace sims::corpus
