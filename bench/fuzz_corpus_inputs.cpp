// fuzz_corpus_inputs [CASES] [SEED] [TARGET]: the input fuzzers of tests/fuzz_corpus_inputs.h at full size
// (default 10,000 cases per target, every target), one line per target: cases, accepted,
// refused, failures, seconds.
// Exit 1 when any case broke the contract (its input is printed). Run from the build folder:
//   ./bench/fuzz_corpus_inputs 10000 20261202
#include <cstdio>
#include <string>

#include "tests/fuzz_corpus_inputs.h"

int main(int argc, char** argv) {
  const int cases = argc > 1 ? std::stoi(argv[1]) : 10000;
  const uint64_t seed = argc > 2 ? std::stoull(argv[2]) : 20261202;
  const std::string only = argc > 3 ? argv[3] : "";
  int failures = 0;
  std::printf("%-16s %8s %9s %8s %9s %8s\n", "target", "cases", "accepted", "refused", "failures",
              "seconds");
  for (const std::string& target : sims::fuzz::Targets()) {
    if (!only.empty() && target != only) continue;
    const sims::fuzz::Tally t = sims::fuzz::Run(target, SIMS_SOURCE_DIR, cases, seed);
    std::printf("%-16s %8d %9d %8d %9d %8.1f\n", target.c_str(), t.cases, t.accepted, t.refused,
                t.failure_count, t.seconds);
    std::fflush(stdout);
    for (const std::string& f : t.failures) std::fprintf(stderr, "%s\n\n", f.c_str());
    failures += t.failure_count;
  }
  return failures == 0 ? 0 : 1;
}
