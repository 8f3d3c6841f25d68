// sims ingest: load the per-run events files that Slurm workers write into the database.
// Idempotent: ingesting the same files again inserts nothing and changes no run.
#include <iostream>

#include <fmt/format.h>

#include "orchestrator/cli/commands.h"
#include "orchestrator/queue/ingest.h"
#include "results/store.h"

namespace sims {

struct IngestOptions {
  std::string sweep;                   // empty: every sweep
  double lease_seconds = 7 * 86400.0;  // started runs stay running this long without news
};

IngestSummary RunIngest(const IngestOptions& o, const GlobalOptions& global, std::ostream& out) {
  Store store = Store::Open(global.db, OpenMode::kExisting);
  IngestSummary s = IngestEvents(store, ProjectDir(global.db), o.sweep, NowSeconds(),
                                 o.lease_seconds);
  out << fmt::format("ingest: {} events files; {} metrics and {} evals new; runs: {} started, "
                     "{} done, {} failed\n",
                     s.files, s.metrics_inserted, s.evals_inserted, s.runs_started, s.runs_done,
                     s.runs_failed);
  return s;
}

void SetupIngestCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<IngestOptions>();
  cmd->add_option("--sweep", o->sweep, "Only runs of this sweep")
      ->check(NameCheck(NameKind::kSweep));
  cmd->callback([o, &global] { RunIngest(*o, global, std::cout); });
}

}  // namespace sims
