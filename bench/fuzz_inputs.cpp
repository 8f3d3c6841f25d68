// The input fuzzers of tests/fuzz_inputs.h at benchmark size (docs/benchmarks.md records a run):
//   build/bench/fuzz_inputs [--cases N] [--seed S]      (defaults: 10000 cases, seed 20261202)
// Prints cases, accepted, refused and the time per fuzzer; exits 1 with the failing cases when
// any case crashed sims' reading code, threw something other than a UserError naming the file,
// or changed its input file.
#include "tests/fuzz_inputs.h"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fs = std::filesystem;

int main(int argc, char** argv) {
  int cases = 10000;
  uint64_t seed = 20261202;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--cases")
      cases = std::atoi(argv[i + 1]);
    else if (flag == "--seed")
      seed = std::strtoull(argv[i + 1], nullptr, 10);
    else {
      std::fprintf(stderr, "usage: fuzz_inputs [--cases N] [--seed S]\n");
      return 1;
    }
  }
  const fs::path dir = fs::temp_directory_path() / fmt::format("sims-fuzz-{}", seed);
  fs::remove_all(dir);
  int failures = 0;
  for (const char* name : {"points-csv", "events-jsonl"}) {
    const fs::path sub = dir / name;
    fs::create_directories(sub);
    const auto start = std::chrono::steady_clock::now();
    const sims::fuzz::FuzzStats s = std::string(name) == "points-csv"
                                        ? sims::fuzz::FuzzPointsCsv(cases, seed, sub)
                                        : sims::fuzz::FuzzEventsFiles(cases, seed, sub);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print(
        "{}: {} cases, {} accepted, {} refused ({} naming a line), {} events lines "
        "skipped, {} failures, {:.1f} s\n",
        name, s.cases, s.accepted, s.refused, s.refusals_with_line, s.lines_skipped,
        s.failures.size(), seconds);
    for (const std::string& f : s.failures) fmt::print(stderr, "{}\n\n", f);
    failures += static_cast<int>(s.failures.size());
  }
  fs::remove_all(dir);
  return failures == 0 ? 0 : 1;
}
