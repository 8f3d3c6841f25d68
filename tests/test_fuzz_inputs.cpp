// The input fuzzers of tests/fuzz_inputs.h at CTest size: 300 mutated points CSVs (fit and
// import paths) and 300 mutated events files (ingest). Seeded, so a failure reproduces; the
// 10,000-case runs are bench/fuzz_inputs (docs/benchmarks.md).
#include <catch2/catch.hpp>

#include "tests/fuzz_inputs.h"
#include "tests/test_support.h"

namespace {

void Report(const sims::fuzz::FuzzStats& stats) {
  for (const std::string& failure : stats.failures) UNSCOPED_INFO(failure);
  CAPTURE(stats.cases, stats.accepted, stats.refused, stats.refusals_with_line);
  CHECK(stats.failures.empty());
}

}  // namespace

TEST_CASE(
    "300 mutated points CSVs are fitted and imported or refused naming the file, and "
    "left unchanged",
    "[fitting][fuzz]") {
  sims::testing::TempDir dir;
  const sims::fuzz::FuzzStats stats = sims::fuzz::FuzzPointsCsv(300, 20261202, dir.path());
  Report(stats);
  CHECK(stats.cases == 300);
  // Both outcomes occur, so the mutator reaches past the parser into the values.
  CHECK(stats.accepted > 30);
  CHECK(stats.refused > 30);
  CHECK(stats.refusals_with_line > stats.refused / 2);
}

TEST_CASE(
    "300 mutated events files are ingested once, never twice, or refused naming the file, "
    "and left unchanged",
    "[orchestrator][fuzz]") {
  sims::testing::TempDir dir;
  const sims::fuzz::FuzzStats stats = sims::fuzz::FuzzEventsFiles(300, 20261202, dir.path());
  Report(stats);
  CHECK(stats.cases == 300);
  CHECK(stats.accepted > 200);
  CHECK(stats.lines_skipped > 50);
}
