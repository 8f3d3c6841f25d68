#pragma once
// Folders that appear whole or not at all (the corpus' shards, vocab and manifest): the corpus
// writers build their folder in a StagedFolder (common/files.h, which documents the guarantee)
// with the corpus rules below. Single files are written with WriteFileAtomically, re-exported
// here.
#include <string>

#include "common/files.h"

namespace sims::corpus {

// Whether `dir` holds a corpus.json whose "format" is a sims corpus (sims-corpus or
// sims-corpus-import): only such a folder is replaced by --force.
bool IsCorpusFolder(const std::string& dir);

// The rules for a corpus --out: a missing or empty folder, or a sims corpus when `overwrite`.
StagedFolderOptions CorpusFolderOptions(bool overwrite);

}  // namespace sims::corpus
