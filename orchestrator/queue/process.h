#pragma once
// Starting a child sims process (fork + exec, no shell): the one place the queue does it, for
// the pool's workers and a worker's other ranks.
#include <signal.h>
#include <sys/types.h>

#include <string>
#include <vector>

namespace sims {

struct ChildOptions {
  bool own_process_group = false;  // true: a terminal's Ctrl-C does not reach the child
  int parent_death_signal = SIGTERM;  // sent to the child if this process dies
};

// Starts argv[0] with argv; returns its pid. Throws if fork fails; a failed exec makes the
// child print why and exit 127.
pid_t StartChild(const std::vector<std::string>& argv, const ChildOptions& options);

// This program's path (/proc/self/exe), to start more of it.
std::string SelfExe();

}  // namespace sims
