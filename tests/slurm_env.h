#pragma once
// A private single-node Slurm for the [slurm] tests (scripts/slurm-test-env): started by the
// constructor, stopped by the destructor even when the test fails. Needs root and slurm-wlm +
// munge (scripts/setup --with-slurm); fails the test with the script's message otherwise.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include <catch2/catch.hpp>

namespace sims::testing {

// Starts the private Slurm and stops it when the test ends, even on failure.
class SlurmEnv {
 public:
  explicit SlurmEnv(const std::string& dir) : dir_(dir) {
    std::string log = dir + ".log";
    std::string cmd = std::string("bash ") + SIMS_SOURCE_DIR + "/scripts/slurm-test-env start " +
                      dir + " > " + log + " 2>&1";
    int rc = std::system(cmd.c_str());
    started_ = true;
    if (rc != 0) {
      std::ifstream in(log);
      const std::string log_text((std::istreambuf_iterator<char>(in)), {});
      FAIL("a private Slurm could not be started (scripts/slurm-test-env start; needs root "
           "and slurm-wlm + munge from scripts/setup --with-slurm):\n"
           << log_text);
    }
    ::setenv("SLURM_CONF", (dir + "/slurm.conf").c_str(), 1);
  }
  ~SlurmEnv() {
    if (!started_) return;
    std::string cmd = std::string("bash ") + SIMS_SOURCE_DIR + "/scripts/slurm-test-env stop " +
                      dir_ + " > /dev/null 2>&1";
    // Best effort: a destructor must not throw, and a failed stop leaves nothing we can fix here.
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "slurm-test-env stop failed\n");
    ::unsetenv("SLURM_CONF");
  }

 private:
  std::string dir_;
  bool started_ = false;
};

}  // namespace sims::testing
