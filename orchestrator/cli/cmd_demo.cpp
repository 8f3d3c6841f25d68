// sims demo: a complete scaling study at toy scale, on CPU, in one command — the synthetic
// corpus, the demo sweep (textless from scratch vs interleaved from a text LM), training on a
// local worker pool, fits of both conditions, their comparison, the report and a
// recommendation. Every step is idempotent, so an interrupted demo continues where it stopped
// and a finished one only re-fits and re-writes the report. With --adaptive the sweep is the
// small demo's seed design (examples/demo-cpu-adaptive.toml), grown by `sims run --adaptive`
// rounds within 60% of the fixed small demo's training FLOPs.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <thread>

#include <fmt/format.h>

#include "common/error.h"
#include "common/format.h"
#include "common/files.h"
#include "common/log.h"
#include "fitting/json.h"
#include "orchestrator/cli/commands.h"
#include "orchestrator/cli/demo_files.h"
#include "orchestrator/cli/fit_inputs.h"
#include "orchestrator/cli/run.h"
#include "orchestrator/queue/pool.h"
#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"
#include "results/store.h"
#include "results/plan_store.h"
#include "sweeps/plan.h"
#include "trainer/corpus/generate.h"

namespace sims {
namespace fs = std::filesystem;

struct DemoOptions {
  std::string out = "sims-demo";  // the demo's project directory (database, corpus, report)
  std::string db;                 // the database; empty = OUT/sims.db
  std::string size = "small";     // small: <= 10 min on 2 cores; tiny: <= 2 min (CI)
  int workers = 0;                // worker processes; 0 = one per core
  int bootstrap = 200;            // resamples behind every interval of the report
  std::string examples;           // a folder with the demo's files; empty = the built-in ones
  bool adaptive = false;          // the seed design + adaptive rounds instead of the fixed grid
};

// --adaptive may train this share of the fixed small demo's planned training FLOPs (issue
// 19's yardstick: the fixed design's precision with at most 60% of its compute).
constexpr double kAdaptiveShare = 0.6;

namespace {

std::atomic<int> g_demo_interrupts{0};
extern "C" void OnDemoInterrupt(int) { g_demo_interrupts.fetch_add(1); }

void Step(int n, const std::string& what) {
  Log(LogLevel::kInfo, "sims demo [{}/5] {}", n, what);
}

// The sweep and corpus files the demo runs: the copies built into sims (written into the
// project directory, so the user can read and re-run them), or those in --examples DIR.
struct DemoFiles {
  fs::path sweep;
  fs::path corpus;
  fs::path fixed_sweep;  // --adaptive: the small demo's fixed design, whose FLOPs set the cap
};

void WriteIfChanged(const fs::path& path, const std::string& text) {
  if (fs::exists(path) && ReadWholeFile(path) == text) return;
  WriteFileAtomically(path, text);
}

DemoFiles ResolveDemoFiles(const DemoOptions& o, const fs::path& project) {
  const std::string sweep_name = o.adaptive          ? "demo-cpu-adaptive.toml"
                                 : o.size == "tiny" ? "demo-cpu-tiny.toml"
                                                    : "demo-cpu.toml";
  const fs::path folder = o.examples.empty() ? project : fs::path(o.examples);
  DemoFiles files{folder / sweep_name, folder / "demo-corpus.toml", {}};
  if (o.adaptive) files.fixed_sweep = folder / "demo-cpu.toml";
  if (o.examples.empty()) {
    WriteIfChanged(files.sweep, o.adaptive          ? demo_files::kDemoCpuAdaptive
                                : o.size == "tiny" ? demo_files::kDemoCpuTiny
                                                   : demo_files::kDemoCpu);
    WriteIfChanged(files.corpus, demo_files::kDemoCorpus);
    if (o.adaptive) WriteIfChanged(files.fixed_sweep, demo_files::kDemoCpu);
    return files;
  }
  for (const fs::path& path : {files.sweep, files.corpus, files.fixed_sweep}) {
    if (!path.empty() && !fs::exists(path)) {
      throw UserError(fmt::format("demo: {} not found\nhint: --examples names a folder with "
                                  "demo-cpu.toml, demo-cpu-tiny.toml, demo-cpu-adaptive.toml and "
                                  "demo-corpus.toml; leave it out to use the built-in copies",
                                  path.string()));
    }
  }
  return files;
}

// The corpus is generated once per demo directory. GenerateCorpus renames a finished
// temporary directory into place, so a corpus directory that exists is complete.
void EnsureCorpus(const fs::path& corpus_config, const fs::path& corpus_dir) {
  if (fs::exists(corpus_dir / "vocab.json")) {
    Log(LogLevel::kInfo, "  corpus {} is already there", corpus_dir.string());
    return;
  }
  corpus::CorpusConfig config = corpus::LoadCorpusConfig(corpus_config.string());
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

// Training ended early: say how to go on (an interrupt) or where the errors are.
void ThrowIfStopped(const PoolSummary& summary, const fs::path& db, const std::string& sweep) {
  if (summary.interrupts > 0) {
    throw UserError(fmt::format("demo interrupted: {} runs done, {} left\nhint: run the same "
                                "command again to continue where it stopped",
                                summary.done, summary.planned + summary.running));
  }
  if (summary.failed > 0) {
    throw UserError(fmt::format("demo: {} runs failed\nhint: sims --db {} status shows the "
                                "errors; sims --db {} run --sweep {} --retry-failed",
                                summary.failed, db.string(), db.string(), sweep));
  }
}

// Step 3 of the fixed design: the planned runs on the local pool.
void TrainFixed(const PoolOptions& pool, int remaining, const fs::path& db, const std::string& sweep) {
  if (remaining == 0) {
    Log(LogLevel::kInfo, "  every run is done already: nothing to train");
    return;
  }
  std::signal(SIGINT, OnDemoInterrupt);
  std::signal(SIGTERM, OnDemoInterrupt);
  PoolSummary summary = RunPool(pool, g_demo_interrupts);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  ThrowIfStopped(summary, db, sweep);
}

// Step 3 of --adaptive: the seed design, then `sims run --adaptive` rounds within
// kAdaptiveShare of the fixed small demo's planned FLOPs.
void TrainAdaptively(const DemoFiles& files, const fs::path& corpus_dir, const fs::path& db,
                     const PoolOptions& pool, int remaining) {
  SweepSpec fixed = LoadSweepFile(files.fixed_sweep.string());
  fixed.corpus = corpus_dir.string();
  double fixed_flops = 0;
  for (const PlannedRun& r : PlanSweep(fixed).runs) fixed_flops += r.config.flops;
  RunOptions run;
  run.spec = files.sweep.string();
  run.corpus = corpus_dir.string();
  run.pool = pool;
  run.adaptive = true;
  run.max_flops = kAdaptiveShare * fixed_flops;
  Step(3, fmt::format("train the seed design's {} runs, then rounds of suggested runs on {} local "
                      "workers until {} FLOPs ({:g}% of the fixed small demo's {})",
                      remaining, pool.workers, FormatNumber(run.max_flops), 100 * kAdaptiveShare,
                      FormatNumber(fixed_flops)));
  GlobalOptions global;
  global.db = db.string();
  const PoolSummary summary = RunRun(run, global);
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  ThrowIfStopped(summary, db, pool.sweep);
}

void PrintRecommendation(const report::Analysis& analysis, std::ostream& out) {
  out << "\nRecommendation for C = " << FormatNumber(analysis.recommend_budget)
      << " FLOPs (" << FormatNumber(analysis.options.recommend_factor)
      << "x the sweep's largest budget), by each condition's fitted law:\n";
  std::vector<std::vector<std::string>> rows;
  auto with = [](double v, const std::optional<fitting::Interval>& i, int digits = 3) {
    return FormatWithInterval(v, i, digits);
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
  if (o.adaptive && o.size != "small") {
    throw UserError(fmt::format("demo: --adaptive grows the small demo's seed design; --size {} "
                                "has none\nhint: sims demo --adaptive (--size small)",
                                o.size));
  }
  fs::path project = fs::absolute(o.out);
  fs::create_directories(project);
  fs::path db = o.db.empty() ? project / "sims.db" : fs::absolute(o.db);
  fs::path corpus_dir = project / "corpus";
  const DemoFiles files = ResolveDemoFiles(o, project);

  Step(1, fmt::format("synthetic speech-text corpus -> {}", corpus_dir.string()));
  EnsureCorpus(files.corpus, corpus_dir);

  Step(2, fmt::format("plan {} into {}", files.sweep.string(), db.string()));
  SweepSpec spec = LoadSweepFile(files.sweep.string());
  spec.corpus = corpus_dir.string();  // the demo's own corpus, whatever the file says
  SweepPlan plan = PlanSweep(spec);
  Store store = Store::Open(db.string());
  StoreResult stored = PlanIntoStore(store, plan, /*dry_run=*/false);
  int remaining = 0;
  for (const RunRow& r : store.ListRuns({plan.sweep, "", std::nullopt})) remaining += r.status != RunStatus::kDone;
  Log(LogLevel::kInfo, "  sweep {}: {} runs ({} new), {} skipped by the design, {} to train",
      plan.sweep, plan.runs.size(), stored.new_ids.size(), plan.skipped.size(), remaining);

  PoolOptions pool;
  pool.db = db.string();
  pool.sweep = plan.sweep;
  pool.workers = o.workers > 0 ? o.workers : std::max(1u, std::thread::hardware_concurrency());
  if (o.adaptive) {
    TrainAdaptively(files, corpus_dir, db, pool, remaining);
  } else {
    Step(3, fmt::format("train {} runs on {} local workers", remaining, pool.workers));
    TrainFixed(pool, remaining, db, plan.sweep);
  }

  Step(4, "fit both conditions (approaches 2 and 3, bootstrap) and compare them");
  report::ReportOptions report_options;
  report_options.sweep = plan.sweep;
  report_options.bootstrap = o.bootstrap;
  report::Analysis analysis = report::Analyze(store, report_options);
  StoreFits(store, analysis);

  fs::path report_dir = project / "report";
  Step(5, fmt::format("report -> {}", report_dir.string()));
  report::ReportFiles report_files = report::WriteReport(analysis, report_dir.string());

  PrintRecommendation(analysis, out);
  out << "\nReport: " << report_files.html << "\n        " << report_files.markdown << "\n"
      << "Next:   sims --db " << db.string() << " status\n"
      << "        sims --db " << db.string() << " report --out " << report_dir.string() << "\n"
      << "        sims --db " << db.string() << " suggest " << files.sweep.string() << " --corpus "
      << corpus_dir.string() << "   (which runs to train next)\n";
}

void SetupDemoCommand(CLI::App* cmd, GlobalOptions& global) {
  auto o = std::make_shared<DemoOptions>();
  cmd->add_option("--out", o->out,
                  "Project directory of the demo: its database (unless --db is given), corpus, "
                  "sweep files and report")
      ->capture_default_str();
  cmd->add_option("--size", o->size, "small (<= 10 min on 2 cores) | tiny (<= 2 min)")
      ->check(CLI::IsMember({"tiny", "small"}))
      ->capture_default_str();
  cmd->add_option("--workers,-j", o->workers, "Worker processes (0 = one per core)")
      ->capture_default_str();
  cmd->add_option("--bootstrap", o->bootstrap, "Bootstrap resamples for the report's intervals")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--examples", o->examples,
                  "Folder with your own demo-cpu.toml, demo-cpu-tiny.toml, demo-cpu-adaptive.toml "
                  "and demo-corpus.toml (default: the copies built into sims, written to --out)");
  cmd->add_flag("--adaptive", o->adaptive,
                "Start from the small demo's seed design (demo-cpu-adaptive.toml) and let sims "
                "choose the rest in rounds (sims run --adaptive) within 60% of the fixed small "
                "demo's training FLOPs; the report lists the rounds");
  CLI::Option* db_option = cmd->get_parent()->get_option("--db");
  cmd->callback([o, &global, db_option] {
    // The global --db (default sims.db) applies only when given: the demo keeps its database in
    // its own project directory otherwise.
    if (db_option->count() > 0) o->db = global.db;
    RunDemo(*o, std::cout);
  });
}

}  // namespace sims
