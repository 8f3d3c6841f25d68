#pragma once
// Seeded mutation fuzzers for the two text inputs a user or a cluster hands to sims besides sweep
// files (tests/fuzz_sweeps.cpp): the points CSV of `sims fit --data` and `sims import`, and the
// per-run events.jsonl that `sims ingest` reads. Valid files are mutated (byte flips,
// truncation, huge numbers, NaN, wrong types, odd names) and fed to the real entry points.
// A case passes when sims accepts the file with sane values or refuses it with a UserError that
// names the file, and the file is byte-identical afterwards; anything else is a failure with
// the case's text, so a seed reproduces it. Run by tests/test_fuzz_inputs.cpp (a few hundred
// cases) and bench/fuzz_inputs.cpp (10,000 and more; see docs/benchmarks.md).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace sims::fuzz {

struct FuzzStats {
  int cases = 0;
  int accepted = 0;
  int refused = 0;                    // UserError naming the file
  int refusals_with_line = 0;         // ... and a line ("path:12:" or "line 12")
  int lines_skipped = 0;              // events: lines ingest skipped with a warning
  std::vector<std::string> failures;  // what went wrong, with the case's text
};

// Each case: one mutated CSV through ReadPointsCsv (the fit path) and RunImport into an
// in-memory database (the import path). `dir` holds the case file.
FuzzStats FuzzPointsCsv(int cases, uint64_t seed, const std::filesystem::path& dir);

// Each case: one mutated events.jsonl of a fresh run, ingested twice into one database in
// `dir`; the second ingest must insert nothing.
FuzzStats FuzzEventsFiles(int cases, uint64_t seed, const std::filesystem::path& dir);

}  // namespace sims::fuzz
