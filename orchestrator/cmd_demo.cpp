// sims demo: a complete scaling study at toy scale, on CPU, in one command — the synthetic
// corpus, the demo sweep (textless from scratch vs interleaved from a text LM), training on a
// local worker pool, fits of both conditions, their comparison, the report and a
// recommendation. Every step is idempotent, so an interrupted demo continues where it stopped
// and a finished one only re-fits and re-writes the report.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/log.h"
#include "fitting/json.h"
#include "orchestrator/commands.h"
#include "orchestrator/fit_inputs.h"
#include "orchestrator/pool.h"
#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"
#include "results/store.h"
#include "sweeps/plan.h"
#include "trainer/corpus/generate.h"

namespace sims {
namespace fs = std::filesystem;

struct DemoOptions {
  std::string out = "sims-demo";     // the demo's project directory (database, corpus, report)
  std::string size = "small";        // small: <= 10 min on 2 cores; tiny: <= 2 min (CI)
  int workers = 0;                   // worker processes; 0 = one per core
  int bootstrap = 200;               // resamples behind every interval of the report
  std::string examples = SIMS_EXAMPLES_DIR;  // demo-cpu*.toml and demo-corpus.toml
};

namespace {

std::atomic<int> g_demo_interrupts{0};
extern "C" void OnDemoInterrupt(int) { g_demo_interrupts.fetch_add(1); }

void Step(int n, const std::string& what) {
  Log(LogLevel::kInfo, "sims demo [{}/5] {}", n, what);
}

std::string SweepFile(const DemoOptions& o) {
  fs::path path = fs::path(o.examples) / (o.size == "tiny" ? "demo-cpu-tiny.toml" : "demo-cpu.toml");
  if (!fs::exists(path)) {
    throw UserError(fmt::format("demo sweep file {} not found\nhint: run sims from its source "
                                "tree's build, or pass --examples DIR (the repository's examples/)",
                                path.string()));
  }
  return path.string();
}

// The corpus is generated once per demo directory. GenerateCorpus renames a finished
// temporary directory into place, so a corpus directory that exists is complete.
void EnsureCorpus(const DemoOptions& o, const fs::path& corpus_dir) {
  if (fs::exists(corpus_dir / "vocab.json")) {
    Log(LogLevel::kInfo, "  corpus {} is already there", corpus_dir.string());
    return;
  }
  corpus::CorpusConfig config =
      corpus::LoadCorpusConfig((fs::path(o.examples) / "demo-corpus.toml").string());
  corpus::CorpusStats stats = corpus::GenerateCorpus(config, corpus_dir.string(), 0, false);
  Log(LogLevel::kInfo, "  {} tokens in {:.1f} s", stats.total_tokens, stats.wall_seconds);
}

// Stores each condition's approach-3 fit (with its bootstrap samples) the way `sims fit` does,
// so that `sims recommend --budget C --condition X` works on the demo's database afterwards.
void StoreFits(Store& store, const report::Analysis& analysis) {
  for (const report::ConditionAnalysis& c : analysis.conditions) {
    if (!c.approach3) continue;
    nlohmann::json options = {{"approach", 3},
                              {"metric", analysis.options.metric},
                              {"bootstrap", analysis.options.bootstrap},
                              {"seed", analysis.options.seed},
                              {"made_by", "sims demo"}};
    FitRow row;
    row.kind = "approach3";
    row.condition = c.condition;
    row.inputs_json = FitInputsJson(c.data, options).dump();
    row.result_json = fitting::ToJson(*c.approach3, &c.approach3_bootstrap).dump();
    store.InsertFit(row);
  }
}

void PrintRecommendation(const report::Analysis& analysis, std::ostream& out) {
  out << "\nRecommendation for C = " << report::Num(analysis.recommend_budget)
      << " FLOPs (" << report::Num(analysis.options.recommend_factor)
      << "x the sweep's largest budget), by each condition's fitted law:\n";
  std::vector<std::vector<std::string>> rows;
  auto with = [](double v, const std::optional<fitting::Interval>& i, int digits = 3) {
    return i ? fmt::format("{} [{}, {}]", report::Num(v, digits), report::Num(i->lo, digits),
                           report::Num(i->hi, digits))
             : report::Num(v, digits);
  };
  for (const report::ConditionAnalysis& c : analysis.conditions) {
    if (!c.recommendation) continue;
    const fitting::Recommendation& r = *c.recommendation;
    rows.push_back({c.condition, with(r.n_params, r.n_params_interval),
                    with(r.tokens, r.tokens_interval),
                    with(r.tokens_per_param, r.tokens_per_param_interval),
                    with(r.loss, r.loss_interval, 4)});
  }
  PrintTable(out, {"condition", "N (params)", "D (tokens)", "tokens/param", "predicted loss"},
             rows);
  out << "\n" << report::Verdict(analysis) << "\n";
}

}  // namespace

void RunDemo(const DemoOptions& o, std::ostream& out) {
  if (o.size != "tiny" && o.size != "small") {
    throw UserError(fmt::format("demo: --size {} is not tiny or small", o.size));
  }
  if (o.workers < 0) throw UserError(fmt::format("demo: --workers {} must be >= 0", o.workers));
  fs::path project = fs::absolute(o.out);
  fs::create_directories(project);
  fs::path db = project / "sims.db";
  fs::path corpus_dir = project / "corpus";

  Step(1, fmt::format("synthetic speech-text corpus -> {}", corpus_dir.string()));
  EnsureCorpus(o, corpus_dir);

  Step(2, fmt::format("plan {}", SweepFile(o)));
  SweepSpec spec = LoadSweepFile(SweepFile(o));
  spec.corpus = corpus_dir.string();  // the demo's own corpus, whatever the file says
  SweepPlan plan = PlanSweep(spec);
  Store store = Store::Open(db.string());
  StoreResult stored = PlanIntoStore(store, plan, /*dry_run=*/false);
  int remaining = 0;
  for (const RunRow& r : store.ListRuns({plan.sweep, "", ""})) remaining += r.status != "done";
  Log(LogLevel::kInfo, "  sweep {}: {} runs ({} new), {} skipped by the design, {} to train",
      plan.sweep, plan.runs.size(), stored.new_ids.size(), plan.skipped.size(), remaining);

  PoolOptions pool;
  pool.db = db.string();
  pool.sweep = plan.sweep;
  pool.workers = o.workers > 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  Step(3, fmt::format("train {} runs on {} local workers", remaining, pool.workers));
  if (remaining == 0) {
    Log(LogLevel::kInfo, "  every run is done already: nothing to train");
  } else {
    std::signal(SIGINT, OnDemoInterrupt);
    std::signal(SIGTERM, OnDemoInterrupt);
    PoolSummary summary = RunPool(pool, g_demo_interrupts);
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    if (summary.interrupts > 0) {
      throw UserError(fmt::format("demo interrupted: {} runs done, {} left\nhint: run the same "
                                  "command again to continue where it stopped",
                                  summary.done, summary.planned + summary.running));
    }
    if (summary.failed > 0) {
      throw UserError(fmt::format("demo: {} runs failed\nhint: sims --db {} status shows the "
                                  "errors; sims --db {} run --sweep {} --retry-failed",
                                  summary.failed, db.string(), db.string(), plan.sweep));
    }
  }

  Step(4, "fit both conditions (approaches 2 and 3, bootstrap) and compare them");
  report::ReportOptions report_options;
  report_options.sweep = plan.sweep;
  report_options.bootstrap = o.bootstrap;
  report::Analysis analysis = report::Analyze(store, report_options);
  StoreFits(store, analysis);

  fs::path report_dir = project / "report";
  Step(5, fmt::format("report -> {}", report_dir.string()));
  report::ReportFiles files = report::WriteReport(analysis, report_dir.string());

  PrintRecommendation(analysis, out);
  out << "\nReport: " << files.html << "\n        " << files.markdown << "\n"
      << "Next:   sims --db " << db.string() << " status\n"
      << "        sims --db " << db.string() << " report --out " << report_dir.string() << "\n";
}

void SetupDemoCommand(CLI::App* cmd, GlobalOptions& /*global: the demo's project is --out*/) {
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--out", o->out, "Project directory of the demo (database, corpus, report)")
      ->capture_default_str();
  cmd->add_option("--size", o->size, "small (<= 10 min on 2 cores) | tiny (<= 2 min)")
      ->check(CLI::IsMember({"tiny", "small"}))
      ->capture_default_str();
  cmd->add_option("--workers,-j", o->workers, "Worker processes (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the report's intervals")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  // No default shown: it is this build's source tree, and docs/cli.md must not depend on it.
  cmd->add_option("--examples", o->examples,
                  "Folder with demo-cpu*.toml and demo-corpus.toml (default: the source tree's "
                  "examples/)");
  cmd->callback([o] { RunDemo(*o, std::cout); });
}

}  // namespace sims
