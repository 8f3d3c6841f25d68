#pragma once
// The sweep file reader: TOML text -> SweepSpec (sweeps/spec.h). It checks every key's type and
// range, resolves sizes to shapes and paths to absolute ones, and touches no file: whether the
// checkpoint directories and the corpus agree with the sweep is sweeps/validate.h's job, and
// LoadSweepFile there is the usual way in. The format: docs/sweep-file.md.
//
// Every error is a UserError "FILE:LINE: KEY.PATH: what is wrong" (common/toml_reader.h).
#include <string>

#include "sweeps/spec.h"

namespace sims {

// `path` names the file in messages and anchors relative paths (corpus, checkpoints);
// `corpus_override` (`sims plan --corpus DIR`, relative to the working directory) replaces
// [sweep].corpus.
SweepSpec ParseSweep(const std::string& text, const std::string& path,
                     const std::string& corpus_override = "");

// The file's text; a UserError with a hint when it cannot be read.
std::string ReadSweepFile(const std::string& path);

// A target size's label: 200000 -> "200k", 1543714304 -> "1.54B".
std::string HumanCount(int64_t n);

}  // namespace sims
