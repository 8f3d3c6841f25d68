// sims runs retry|cancel|reset: change the state of runs by hand, after showing what will
// change and asking (unless --yes).
//   retry  failed -> planned (attempt 0); the checkpoint is kept, so training resumes
//   cancel planned/running -> failed ("cancelled by user"); a running worker stops at its next
//          heartbeat, and a run's live Slurm task is scancelled
//   reset  any -> planned; metrics, evals and the run directory (checkpoints, events) deleted
#include <filesystem>
#include <iostream>

#include <unistd.h>

#include <fmt/format.h>

#include "common/error.h"
#include "orchestrator/commands.h"
#include "orchestrator/ingest.h"
#include "orchestrator/slurm.h"
#include "results/store.h"

namespace sims {

struct RunsOptions {
  std::string action;             // retry | cancel | reset
  std::vector<std::string> ids;   // runs to act on
  bool failed = false;            // retry: every failed run (of --sweep)
  std::string sweep;              // with --failed
  bool yes = false;               // skip the confirmation
};

// Returns how many runs changed. `answer` is where the confirmation is read from.
int RunRuns(const RunsOptions& o, const GlobalOptions& global, std::istream& answer,
            std::ostream& out) {
  Store store = Store::Open(global.db, OpenMode::kExisting);
  std::string project = ProjectDir(global.db);
  std::vector<RunRow> targets;
  if (o.failed) {
    if (o.action != "retry") throw UserError("--failed goes with retry only");
    targets = store.ListRuns({o.sweep, "", RunStatus::kFailed});
  }
  for (const std::string& id : o.ids) {
    std::optional<RunRow> r = store.GetRun(id);
    if (!r) {
      throw UserError(fmt::format("run {}: not in database {}\nhint: sims status lists the runs",
                                  id, global.db));
    }
    targets.push_back(*r);
  }
  if (targets.empty()) {
    out << "no runs to " << o.action << "\n";
    return 0;
  }
  for (const RunRow& r : targets) {
    out << fmt::format("  {} {} {} (status {}, step {}/{})\n", o.action, r.id, r.condition,
                       ToString(r.status), r.last_step, r.total_steps);
  }
  if (!o.yes) {
    if (&answer == &std::cin && !::isatty(STDIN_FILENO)) {
      throw UserError(fmt::format("sims runs {}: needs confirmation and stdin is not a terminal\n"
                                  "hint: add --yes",
                                  o.action));
    }
    out << fmt::format("{} {} runs{}? [y/N] ", o.action, targets.size(),
                       o.action == "reset" ? " (deletes their metrics, evals and checkpoints)" : "");
    out.flush();
    std::string reply;
    std::getline(answer, reply);
    if (reply != "y" && reply != "Y" && reply != "yes") {
      out << "nothing changed\n";
      return 0;
    }
  }
  int changed = 0;
  for (const RunRow& r : targets) {
    std::string run_dir = RunDir(project, r.id);
    bool ok = false;
    if (o.action == "retry") {
      ok = store.RetryRun(r.id);
      std::string events = EventsPath(run_dir);
      if (ok && std::filesystem::exists(events)) {
        EventLog(events).Append({{{"event", "retry"}, {"time", NowSeconds()}}});
      }
    } else if (o.action == "cancel") {
      ok = store.CancelRun(r.id, NowSeconds());
      // A run submitted to Slurm is stopped there too (its task checkpoints on SIGTERM).
      if (ok && std::filesystem::exists(std::filesystem::path(run_dir) / "slurm_job")) {
        try {
          const std::string task = CancelSlurmTask(run_dir);
          if (!task.empty()) out << fmt::format("  {}: scancel {}\n", r.id, task);
        } catch (const std::exception& e) {
          out << fmt::format("  {}: cancelled in the database, but its Slurm task was not "
                             "stopped ({}); scancel it by hand\n",
                             r.id, e.what());
        }
      }
    } else if (o.action == "reset") {
      ok = store.ResetRun(r.id);
      std::error_code ec;
      if (ok) std::filesystem::remove_all(run_dir, ec);
    }
    if (ok) {
      ++changed;
    } else {
      out << fmt::format("  {}: cannot {} a run that is {}\n", r.id, o.action, ToString(r.status));
    }
  }
  out << fmt::format("{}: {} of {} runs changed\n", o.action, changed, targets.size());
  return changed;
}

void SetupRunsCommand(CLI::App* cmd, GlobalOptions& global) {
  cmd->require_subcommand(1);
  struct Action {
    const char* name;
    const char* description;
  };
  const Action actions[] = {
      {"retry", "Failed runs back to planned (their checkpoints are kept)"},
      {"cancel", "Planned or running runs to failed; a running worker stops"},
      {"reset", "Runs back to planned from scratch: metrics, evals and run files deleted"},
  };
  for (const Action& a : actions) {
    auto o = std::make_shared<RunsOptions>();
    o->action = a.name;
    CLI::App* sub = cmd->add_subcommand(a.name, a.description);
    sub->add_option("ids", o->ids, "Run ids")->check(NameCheck(NameKind::kRun));
    if (o->action == "retry") {
      sub->add_flag("--failed", o->failed, "Every failed run (of --sweep if given)");
      sub->add_option("--sweep", o->sweep, "With --failed: only this sweep")
          ->check(NameCheck(NameKind::kSweep));
    }
    sub->add_flag("--yes,-y", o->yes, "Do not ask for confirmation");
    sub->callback([o, &global] {
      if (o->ids.empty() && !o->failed) {
        throw UserError(fmt::format("sims runs {}: name run ids{}", o->action,
                                    o->action == "retry" ? " or pass --failed" : ""));
      }
      RunRuns(*o, global, std::cin, std::cerr);
    });
  }
}

}  // namespace sims
