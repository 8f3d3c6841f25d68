#include "orchestrator/queue/pool.h"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "orchestrator/queue/process.h"

namespace sims {
namespace {

struct Child {
  pid_t pid = 0;
  std::string worker;  // the name the worker claims under: "<host>:<pid>"
};

std::string HostName() {
  char host[256] = {};
  if (::gethostname(host, sizeof(host) - 1) != 0) return "host";
  return host;
}

Child SpawnWorker(const PoolOptions& o, const std::string& exe) {
  std::vector<std::string> args = {exe,
                                   "--db",
                                   o.db,
                                   "--log-level",
                                   o.worker_log_level,
                                   "worker",
                                   "--loop",
                                   "--sweep",
                                   o.sweep,
                                   "--device",
                                   o.device,
                                   "--threads",
                                   std::to_string(o.threads),
                                   "--lease",
                                   fmt::format("{}", o.lease_seconds),
                                   "--heartbeat",
                                   fmt::format("{}", o.heartbeat_seconds),
                                   "--max-attempts",
                                   std::to_string(o.max_attempts)};
  // Own process group: the terminal's Ctrl-C goes to the pool only, which forwards SIGTERM.
  const pid_t pid = StartChild(args, {.own_process_group = true, .parent_death_signal = SIGTERM});
  return {pid, fmt::format("{}:{}", HostName(), pid)};
}

std::string HumanDuration(double seconds) {
  auto s = static_cast<int64_t>(std::llround(seconds));
  if (s < 90) return fmt::format("{}s", s);
  if (s < 5400) return fmt::format("{}m{:02}s", s / 60, s % 60);
  return fmt::format("{}h{:02}m", s / 3600, (s / 60) % 60);
}

}  // namespace

void ValidatePoolOptions(const PoolOptions& o) {
  if (o.sweep.empty()) throw UserError("sims run: no sweep named (pass a sweep file or --sweep)");
  if (o.workers < 1) throw UserError(fmt::format("--workers {}: must be at least 1", o.workers));
  if (o.max_attempts < 1) {
    throw UserError(fmt::format("--max-attempts {}: must be at least 1", o.max_attempts));
  }
  if (!(o.heartbeat_seconds > 0) || !(o.lease_seconds >= 2 * o.heartbeat_seconds)) {
    throw UserError(fmt::format("--lease {}: must be at least two heartbeats ({} s each)",
                                o.lease_seconds, o.heartbeat_seconds));
  }
}

SweepProgress ComputeProgress(const std::vector<RunRow>& runs) {
  SweepProgress p;
  for (const RunRow& r : runs) {
    auto& [done, total] = p.by_condition[r.condition];
    ++total;
    p.flops_total += r.flops;
    if (r.status == RunStatus::kDone) {
      ++p.done;
      ++done;
      p.flops_done += r.flops;
    } else if (r.status == RunStatus::kRunning) {
      ++p.running;
      if (r.total_steps > 0) p.flops_done += r.flops * double(r.last_step) / r.total_steps;
    } else if (r.status == RunStatus::kFailed) {
      ++p.failed;
      p.flops_failed += r.flops;
    } else {
      ++p.planned;
    }
  }
  return p;
}

std::string FormatProgress(const SweepProgress& p, double flops_per_second) {
  std::string line = fmt::format("runs: {} done, {} running, {} failed, {} planned |", p.done,
                                 p.running, p.failed, p.planned);
  for (const auto& [condition, counts] : p.by_condition) {
    line += fmt::format(" {} {}/{}", condition, counts.first, counts.second);
  }
  double pct = p.flops_total > 0 ? 100.0 * p.flops_done / p.flops_total : 100.0;
  line += fmt::format(" | FLOPs {:.2e}/{:.2e} ({:.0f}%)", p.flops_done, p.flops_total, pct);
  // Failed runs will not be trained: they are not part of the remaining work.
  double remaining = p.flops_total - p.flops_done - p.flops_failed;
  if (flops_per_second > 0 && p.planned + p.running > 0) {
    line += " | ETA " + HumanDuration(remaining / flops_per_second);
  }
  return line;
}

namespace {

// Worker exits in a row, with no run settling (done or failed) in between, after which the pool
// gives up instead of respawning forever: a worker that cannot start (exit != 0), or planned
// runs no worker can claim (a dependency outside the sweep). A healthy sweep sees a few such
// exits too (a worker finds nothing claimable at the moment it looks, exits, and the pool starts
// another), so the limit grows with the pool: this many per worker slot, plus one slot's worth.
constexpr int kFruitlessExitsPerWorker = 3;
int FruitlessExitLimit(int workers) { return kFruitlessExitsPerWorker * (workers + 1); }

// What the pool's loop carries from one tick to the next.
struct PoolState {
  std::vector<Child> children;
  bool stopping = false;    // the first interrupt came: SIGTERM went to every worker
  int fruitless_exits = 0;  // worker exits since a run last settled ...
  int error_exits = 0;      // ... and how many of them with a non-zero status
  int last_settled = -1;    // done + failed runs when we last looked

  // Collects exited workers (waiting for them if `block`) and counts their exits.
  void Reap(bool block) {
    for (auto it = children.begin(); it != children.end();) {
      int status = 0;
      pid_t r = ::waitpid(it->pid, &status, block ? 0 : WNOHANG);
      if (r == 0) {
        ++it;
        continue;
      }
      ++fruitless_exits;
      if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        ++error_exits;
        Log(LogLevel::kWarn, "sims run: worker {} exited with status {}", it->worker,
            WEXITSTATUS(status));
      } else if (WIFSIGNALED(status)) {
        Log(LogLevel::kWarn, "sims run: worker {} was killed by signal {}", it->worker,
            WTERMSIG(status));
      }
      it = children.erase(it);
    }
  }

  // A run reached done or failed since the last tick: the exits so far were not fruitless.
  void NoteSettled(int settled) {
    if (settled == last_settled) return;
    fruitless_exits = 0;
    error_exits = 0;
    last_settled = settled;
  }
};

// The live progress line on stderr: redrawn every second on a terminal, else one line per
// finished run (or every 30 s), with a FLOP rate measured since the pool started.
struct ProgressView {
  bool tty = ::isatty(STDERR_FILENO);
  double start = NowSeconds();
  double start_flops_done = -1;  // the first tick's: work done before this pool is not its rate
  double last_print = 0;
  int last_done = -1;

  void Show(const SweepProgress& p, double now) {
    if (start_flops_done < 0) start_flops_done = p.flops_done;
    double elapsed = now - start;
    double rate = elapsed > 1 ? (p.flops_done - start_flops_done) / elapsed : 0;
    if (tty ? now - last_print >= 1 : (p.done != last_done || now - last_print >= 30)) {
      std::string line = FormatProgress(p, rate);
      if (tty) {
        std::fprintf(stderr, "\r\033[K%s", line.c_str());
      } else {
        std::fprintf(stderr, "%s\n", line.c_str());
      }
      std::fflush(stderr);
      last_print = now;
    }
    last_done = p.done;
  }
};

}  // namespace

PoolSummary RunPool(const PoolOptions& o, const std::atomic<int>& interrupts) {
  ValidatePoolOptions(o);
  std::string exe = o.exe.empty() ? SelfExe() : o.exe;
  Store store = Store::Open(o.db, OpenMode::kExisting);
  if (!store.FindSweep(o.sweep)) {
    throw UserError(fmt::format("sweep {}: not in database {}\nhint: sims run SPEC.toml plans it",
                                o.sweep, o.db));
  }
  PoolState state;
  ProgressView view;
  for (;;) {
    int signals = interrupts.load();
    if (signals >= 1 && !state.stopping) {
      Log(LogLevel::kWarn, "\nsims run: stopping: workers checkpoint and release their runs "
          "(Ctrl-C again to stop at once)");
      for (const Child& c : state.children) ::kill(c.pid, SIGTERM);
      state.stopping = true;
    }
    if (signals >= 2) {
      for (const Child& c : state.children) ::kill(c.pid, SIGKILL);
      std::vector<Child> killed = state.children;
      state.Reap(true);
      // Their runs would otherwise wait for the lease to expire and count an attempt.
      for (const Child& c : killed) {
        for (const RunRow& r : store.ListRuns({o.sweep, "", RunStatus::kRunning})) {
          if (r.worker == c.worker) store.ReleaseRun(r.id, c.worker);
        }
      }
      break;
    }
    state.Reap(false);
    double now = NowSeconds();
    for (const std::string& id : store.RequeueExpired(now, o.max_attempts)) {
      Log(LogLevel::kWarn, "sims run: run {} lost its worker (lease expired); requeued", id);
    }
    for (const std::string& id : store.FailOrphans()) {
      Log(LogLevel::kWarn, "sims run: run {} failed: a dependency failed", id);
    }
    SweepProgress p = ComputeProgress(store.ListRuns({o.sweep, "", std::nullopt}));
    state.NoteSettled(p.done + p.failed);
    if (o.progress) view.Show(p, now);
    if (state.stopping || (p.planned == 0 && p.running == 0)) {
      if (state.children.empty()) break;
    } else {
      if (state.fruitless_exits >= FruitlessExitLimit(o.workers)) {
        for (const Child& c : state.children) ::kill(c.pid, SIGTERM);
        state.Reap(true);
        if (state.error_exits > 0) {
          throw UserError(fmt::format("sims run: {} workers in a row exited with an error and no "
                                      "run finished; see the messages above",
                                      state.error_exits));
        }
        throw UserError(fmt::format(
            "sweep {}: {} planned runs cannot be claimed: they wait on runs that are not done "
            "and not running\nhint: sims status --sweep {} --status planned; check their "
            "dependencies",
            o.sweep, p.planned, o.sweep));
      }
      // One worker per planned run at most: idle extra workers would only poll the database.
      int wanted = std::min(o.workers, p.planned + p.running);
      while (static_cast<int>(state.children.size()) < wanted && p.planned > 0) {
        state.children.push_back(SpawnWorker(o, exe));
      }
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(o.tick_seconds));
  }
  if (o.progress && view.tty) std::fprintf(stderr, "\n");
  SweepProgress p = ComputeProgress(store.ListRuns({o.sweep, "", std::nullopt}));
  PoolSummary summary;
  summary.done = p.done;
  summary.failed = p.failed;
  summary.planned = p.planned;
  summary.running = p.running;
  summary.interrupts = interrupts.load();
  if (o.progress && !view.tty) std::fprintf(stderr, "%s\n", FormatProgress(p, 0).c_str());
  return summary;
}

}  // namespace sims
