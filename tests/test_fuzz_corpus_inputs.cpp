// The input fuzzers of tests/fuzz_corpus_inputs.h, a few hundred cases per reader (the 10,000-case run
// is bench/fuzz_corpus_inputs, see docs/benchmarks.md).
#include <catch2/catch.hpp>

#include "tests/fuzz_corpus_inputs.h"

TEST_CASE("mutated input files are read or refused with a UserError naming the file, and left "
          "unchanged", "[corpus][hf][fuzz]") {
  const std::string target = GENERATE(from_range(sims::fuzz::Targets()));
  CAPTURE(target);
  const sims::fuzz::Tally tally = sims::fuzz::Run(target, SIMS_SOURCE_DIR, 300, 20261202);
  for (const std::string& failure : tally.failures) FAIL_CHECK(failure);
  CHECK(tally.failure_count == 0);
  // Both outcomes occur, so the mutations reach past the parser into the checks.
  CHECK(tally.refused > 30);
  CHECK(tally.accepted > 3);
}
