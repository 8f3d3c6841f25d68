#pragma once
// Seeded mutation fuzzers for the files sims reads from users and other tools: the corpus config
// TOML, a corpus' corpus.json, slamkit JSONL import lines, a safetensors header and a
// tokenizer.json. Each case mutates a valid example file (byte flips, truncations, deletions,
// duplications, and huge / negative / non-finite numbers or values of another type put where a
// number or a string was) and runs the reader on it. The contract checked per case:
//   - the reader returns or throws sims::UserError, never anything else (exit 2) or a crash;
//   - the UserError names the file (and, where the reader knows them, the line or key);
//   - the input file is byte-identical afterwards.
// Deterministic: the same (target, seed, cases) gives the same inputs, so a failure reproduces.
// Used by tests/test_fuzz_corpus_inputs.cpp (a few hundred cases per target, in CTest) and by
// bench/fuzz_corpus_inputs.cpp (10,000 per target, recorded in docs/benchmarks.md).
#include <cstdint>
#include <string>
#include <vector>

namespace sims::fuzz {

struct Tally {
  std::string target;
  int cases = 0;
  int accepted = 0;  // read without error
  int refused = 0;   // a UserError that keeps the contract
  double seconds = 0;
  std::vector<std::string> failures;  // "case N: what broke the contract\n<input>" (first 5)
  int failure_count = 0;
};

// "corpus-toml", "corpus-json", "slamkit-jsonl", "safetensors", "tokenizer-json".
std::vector<std::string> Targets();

// Runs `cases` mutations for `target`; `source_dir` is the repository (examples/, tests/).
// Scratch files go to a fresh temporary folder that is removed afterwards.
Tally Run(const std::string& target, const std::string& source_dir, int cases, uint64_t seed);

}  // namespace sims::fuzz
