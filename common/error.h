#pragma once
// The error convention of every sims library (docs/layout.md "Error convention"):
//   - UserError: the input is wrong (a file, a flag, a TOML key). The message names the object,
//     the value and, where there is an obvious fix, a "hint:". The CLI prints it and exits 1.
//   - any other std::exception: a bug or an environment failure. The CLI prints it and exits 2.
// Libraries throw; only orchestrator/main.cpp turns exceptions into exit codes.
#include <stdexcept>
#include <string>

namespace sims {

struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace sims
