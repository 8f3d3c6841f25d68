#pragma once
// A parsed sweep checked against the files it names, before anything is planned or stored:
// each init = "checkpoint" directory exists and its config.json (when it has one) describes
// the sweep's shape; a corpus that exists already has the sweep's vocab_size. The sweep's own
// values were checked by ParseSweep (sweeps/parse.h).
#include <string>
#include <vector>

#include "sweeps/spec.h"

namespace sims {

// "FILE:LINE: key: checkpoint directory 'DIR' does not exist (hint: ...)", one per missing
// directory, in file order. `sims plan --dry-run` prints them as warnings and still previews.
std::vector<std::string> MissingCheckpoints(const SweepSpec& spec);

// Throws UserError naming the key and the file for the first disagreement between the sweep
// and a file that exists (a checkpoint's config.json, the corpus' vocab.json).
void CheckExistingFiles(const SweepSpec& spec);

// Refuses the first missing checkpoint directory, then CheckExistingFiles.
void CheckSweepFiles(const SweepSpec& spec);

// ReadSweepFile + ParseSweep + CheckSweepFiles: the sweep every real plan starts from.
SweepSpec LoadSweepFile(const std::string& path, const std::string& corpus_override = "");

}  // namespace sims
