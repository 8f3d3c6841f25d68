#include "orchestrator/queue/process.h"

#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>

namespace sims {

pid_t StartChild(const std::vector<std::string>& args, const ChildOptions& options) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
  if (pid == 0) {
    if (options.own_process_group) ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, options.parent_death_signal);
    if (::getppid() != parent) ::_exit(0);  // the parent died before prctl took effect
    ::execv(argv[0], argv.data());
    std::fprintf(stderr, "sims: cannot start %s: %s\n", argv[0], std::strerror(errno));
    ::_exit(127);
  }
  return pid;
}

std::string SelfExe() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

}  // namespace sims
