#pragma once
// Origin: where a value of an input file came from, so that a refusal found later (a planned
// run out of range, a checkpoint directory missing) still names FILE:LINE: key.path.
#include <cstdint>
#include <string>

namespace sims {

struct Origin {
  std::string file;
  int64_t line = 0;
  std::string key;
  std::string Where() const { return file + ":" + std::to_string(line) + ": " + key; }
};

}  // namespace sims
