// The report: gnuplot plots, and a two-condition report made from real published IsoFLOP
// points (Marin 2026-03: the comma and dclm datasets stand in for two conditions).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "common/error.h"
#include "common/files.h"
#include "common/format.h"
#include "fitting/data.h"
#include "orchestrator/report/gnuplot.h"
#include "orchestrator/report/plots.h"
#include "orchestrator/report/report.h"
#include "results/store.h"
#include "test_support.h"

namespace fs = std::filesystem;
using namespace sims;

namespace {

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every non-outlier row of one Marin dataset becomes a done run of `condition` whose final
// val/loss/speech is the published loss; two train/loss points make a curve; one eval task
// gets an accuracy that falls with the loss (0.5 + (4 - loss) / 4), so the best run per budget
// is the lowest-loss one and its accuracy is known.
// With `imported`, each run has only its final loss, as `sims import` stores it.
// The sweep "marin" as `sims import` stores one: no sweep file, imported FLOP convention.
int64_t UpsertImportedSweep(Store& store) {
  return store.UpsertSweep("marin", "# imported", SweepFacts{sims::SweepFlops::kImported, true, ""});
}

void AddDataset(Store& store, int64_t sweep_id, const std::string& dataset,
                const std::string& condition, double non_embedding_fraction = 1.0,
                bool imported = false) {
  fitting::CsvOptions csv;
  csv.drop_outliers = true;
  csv.where.push_back({"dataset", dataset});
  fitting::Dataset data =
      fitting::ReadPointsCsv(SIMS_SOURCE_DIR "/tests/data/isoflops_marin_misfitting.csv", csv);
  std::vector<NewRun> runs;
  for (size_t i = 0; i < data.points.size(); ++i) {
    const fitting::Point& p = data.points[i];
    NewRun run;
    run.id = fmt::format("{}-{:03d}", condition, i);
    run.condition = condition;
    run.n_params = static_cast<int64_t>(p.n_params);
    run.n_params_non_embedding = static_cast<int64_t>(p.n_params * non_embedding_fraction);
    run.tokens = static_cast<int64_t>(p.tokens) / 100 * 100;
    run.steps = 100;
    run.flops = p.budget;
    run.flops_per_token = p.budget / static_cast<double>(run.tokens);
    run.budget_flops = p.budget;
    run.config_json = "{}";
    runs.push_back(run);
  }
  store.InsertRuns(sweep_id, runs);
  double largest = 0;
  for (const fitting::Point& p : data.points) largest = std::max(largest, p.budget);
  for (size_t i = 0; i < runs.size(); ++i) {
    const fitting::Point& p = data.points[i];
    REQUIRE(store.ClaimRun("test", 0, 60, "", runs[i].id));
    if (imported) {
      store.InsertMetrics({{runs[i].id, 100, runs[i].tokens, "val/loss/speech", p.loss}});
      REQUIRE(store.FinishRun(runs[i].id, "test", 1));
      continue;
    }
    store.InsertMetrics({{runs[i].id, 50, runs[i].tokens / 2, "train/loss", p.loss * 1.2},
                         {runs[i].id, 100, runs[i].tokens, "train/loss", p.loss * 1.01},
                         {runs[i].id, 100, runs[i].tokens, "val/loss/speech", p.loss}});
    store.InsertEvals({{runs[i].id, 100, "sblimp/speech", 0.5 + (4 - p.loss) / 4, 1000}});
    // A task measured at one budget only: no downstream law, but it is in the table.
    if (p.budget == largest) store.InsertEvals({{runs[i].id, 100, "tsc/text", 0.75, 200}});
    REQUIRE(store.FinishRun(runs[i].id, "test", 1));
  }
}

report::ReportOptions Options(std::vector<std::string> conditions) {
  report::ReportOptions o;
  o.sweep = "marin";
  o.conditions = std::move(conditions);
  o.bootstrap = 20;
  o.seed = 7;
  return o;
}

}  // namespace

TEST_CASE("gnuplot draws a plot spec into an SVG and a PNG next to its script", "[report]") {
  testing::TempDir dir;
  report::PlotSpec spec;
  spec.stem = "line";
  spec.title = "a straight line";
  spec.xlabel = "compute C (FLOPs)";
  spec.ylabel = "loss";
  spec.data.push_back({"pts", {{1e15, 3.0}, {1e16, 2.5}, {1e17, 2.2}}});
  spec.plot = "$pts using 1:2 with linespoints title 'points'";
  report::PlotFiles files = report::RenderPlot(spec, dir.path().string());
  std::string png = ReadFile(files.png);
  REQUIRE(png.size() > 8);
  CHECK(png.substr(1, 3) == "PNG");
  std::string svg = ReadFile(files.svg);
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("a straight line") != std::string::npos);
  CHECK(ReadFile(files.script).find("1e+16 2.5") != std::string::npos);
  // gnuplot's own fit log must never appear (fit.log is silenced).
  CHECK_FALSE(fs::exists(dir.path() / "fit.log"));

  SECTION("a script gnuplot rejects is an error carrying gnuplot's message") {
    spec.stem = "broken";
    spec.plot = "$missing using 1:2 with lines";
    CHECK_THROWS_WITH(report::RenderPlot(spec, dir.path().string()),
                      Catch::Contains("gnuplot failed") && Catch::Contains("missing"));
  }
}

// One store, analysis and report shared by the cases below: the fits take seconds, so they
// are made once per process (CTest runs each case in its own process, so the cases are few).
struct MarinReport {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  report::Analysis analysis;
  report::ReportFiles files;
  std::string md, html;
  MarinReport() {
    int64_t sweep_id = store.UpsertSweep("marin", "# two Marin datasets as conditions",
                                         SweepFacts{sims::SweepFlops::kImported, true, ""});  // as sims import
    AddDataset(store, sweep_id, "comma", "comma");
    AddDataset(store, sweep_id, "dclm", "dclm");
    analysis = report::Analyze(store, Options({"comma", "dclm"}));
    files = report::WriteReport(analysis, dir.file("report"));
    md = ReadFile(files.markdown);
    html = ReadFile(files.html);
  }
};

MarinReport& Marin() {
  static MarinReport marin;
  return marin;
}

TEST_CASE("a report of real IsoFLOP points: fits with bootstraps, every plot, fitted numbers",
          "[report]") {
  MarinReport& m = Marin();
  const report::Analysis& analysis = m.analysis;
  REQUIRE(analysis.conditions.size() == 2);
  CHECK(analysis.comparison);
  for (const report::ConditionAnalysis& c : analysis.conditions) {
    CAPTURE(c.condition);
    REQUIRE(c.approach3);
    REQUIRE(c.approach2);
    CHECK(std::isfinite(c.approach3->params.alpha));
    CHECK(c.recommendation);
    CHECK(c.approach3_bootstrap.resamples == 20);
  }
  CHECK(analysis.recommend_budget == Approx(10 * analysis.budgets.back()));

  // Every plot the Markdown references exists: frontier, 2 IsoFLOP, N_opt, D_opt, downstream,
  // 2 training-curve figures.
  std::regex image(R"(!\[[^\]]*\]\(([^)]+)\))");
  int images = 0;
  for (std::sregex_iterator it(m.md.begin(), m.md.end(), image), end; it != end; ++it, ++images) {
    CAPTURE((*it)[1].str());
    CHECK(fs::exists(fs::path(m.dir.file("report")) / (*it)[1].str()));
  }
  CHECK(images == 8);
  for (const std::string& plot : m.files.plots) CHECK(fs::file_size(plot) > 0);

  // The extrapolation check: both laws refitted without the largest budget, predicting it.
  const report::ConditionAnalysis& first = analysis.conditions[0];
  REQUIRE(first.holdout3);
  REQUIRE(first.holdout2);
  REQUIRE(first.holdout3->rows.size() == 1);
  CHECK(first.holdout3->rows[0].budget == analysis.budgets.back());
  CHECK(first.holdout3->n_points_fitted < static_cast<int>(first.data.points.size()));
  CHECK(m.md.find("## Extrapolation check") != std::string::npos);
  CHECK(m.md.find(FormatNumber(*first.holdout3->rows[0].loss_predicted, 4)) != std::string::npos);

  // The IsoFLOP plot draws each budget's fitted parabola through its vertex.
  const fitting::Vertex& vertex = analysis.conditions[0].approach2->vertices.front();
  const std::string isoflop_script = ReadFile(m.dir.file("report") + "/plots/isoflop_comma.gp");
  CHECK(isoflop_script.find("$p0 using 1:2 with lines") != std::string::npos);
  CHECK(vertex.parabola(vertex.n_opt) == Approx(vertex.loss).epsilon(1e-12));
  const double n_lo = std::exp(vertex.parabola.ln_lo), n_hi = std::exp(vertex.parabola.ln_hi);
  CHECK(n_lo < vertex.n_opt);
  CHECK(vertex.n_opt < n_hi);

  // The HTML page embeds the same figures and needs no other file.
  size_t embedded = 0;
  for (size_t at = m.html.find("data:image/svg+xml;base64,"); at != std::string::npos;
       at = m.html.find("data:image/svg+xml;base64,", at + 1)) {
    ++embedded;
  }
  CHECK(embedded == 8);
  CHECK(m.html.find("src=\"plots/") == std::string::npos);

  // The tables show the fitted numbers, not typed-in ones.
  const report::ConditionAnalysis& comma = analysis.conditions[0];
  CHECK(m.md.find("| alpha | size exponent | " + FormatNumber(comma.approach3->params.alpha, 4)) !=
        std::string::npos);
  CHECK(m.md.find(FormatNumber(analysis.comparison->first.a)) != std::string::npos);
  // Downstream: the best run at the largest budget is the lowest-loss one (see AddDataset).
  double best = 0;
  for (const fitting::MetricPoint& p : comma.evals.at("sblimp/speech")) {
    if (p.budget == analysis.budgets.back()) best = std::max(best, p.value);
  }
  CHECK(m.md.find(fmt::format("| sblimp/speech | {:.3f} |", best)) != std::string::npos);
  CHECK(comma.downstream.count("tsc/text") == 0);
  CHECK(m.md.find("| tsc/text | 0.750 | 0.750 |") != std::string::npos);
}

namespace {

// Facts as a comparison of "text" (first) against "speech" (second) at 95% would give them;
// each case below changes what it tests.
report::VerdictFacts Facts() {
  report::VerdictFacts f;
  f.conditions_fitted = 2;
  f.compared = true;
  f.first = "text";
  f.second = "speech";
  f.level = 0.95;
  f.flops_unit = "exact FLOPs";
  report::VerdictFacts::Multiplier m;
  m.budget = 1e12;
  m.value = 0.5;
  m.interval = fitting::Interval{0.4, 0.6};
  m.favours = report::Favoured::kSecond;
  m.at_smallest_budget = 0.8;
  f.multiplier = m;
  f.exponent_first = 0.2;
  f.exponent_second = 0.3;
  f.steeper = report::Favoured::kSecond;
  f.irreducible_first = 1.8;
  f.irreducible_second = 1.9;
  f.p_exponents_equal = 0.01;
  f.exponents_differ = true;
  f.smallest_budget = 2e11;
  f.largest_budget = 1e12;
  return f;
}

}  // namespace

TEST_CASE("the verdict words the facts it is given, and only those", "[report]") {
  report::VerdictFacts f = Facts();
  SECTION("both measures favour the second condition, and the test rejects") {
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("At the sweep's largest budget (1e12 exact FLOPs) speech "
                                  "reaches text's optimal loss with 0.5× the compute (95% "
                                  "interval [0.4, 0.6]): it is 2× more compute-efficient."));
    CHECK_THAT(v, Catch::Contains("The multiplier falls from 0.8 to 0.5 across the sweep's "
                                  "budgets: as compute grows, speech gets relatively more "
                                  "efficient."));
    CHECK_THAT(v, Catch::Contains("so speech scales better than text (Wald test on bootstrap "
                                  "standard errors: p = 0.01 that the exponents are equal, below "
                                  "0.05)."));
    CHECK_THAT(v, !Catch::Contains("Read together") && !Catch::Contains("Caution"));
  }
  SECTION("the level is the bootstrap's, not 95%") {
    f.level = 0.9;
    f.exponents_differ = false;
    f.p_exponents_equal = 0.2;
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("(90% interval [0.4, 0.6])"));
    CHECK_THAT(v, Catch::Contains("speech's is steeper, but the difference is not resolved at "
                                  "the 90% level (Wald test on bootstrap standard errors: p = "
                                  "0.2 that the exponents are equal), so neither condition is "
                                  "shown to scale better."));
  }
  SECTION("an interval that includes 1 leaves the multiplier undecided") {
    f.multiplier->favours = report::Favoured::kUnresolved;
    f.multiplier->interval = fitting::Interval{0.4, 1.3};
    CHECK_THAT(report::WordVerdict(f),
               Catch::Contains("the sweep cannot tell which condition is more compute-efficient: "
                               "speech would need 0.5× the compute to match text's optimal loss, "
                               "but the 95% interval [0.4, 1.3] includes 1."));
  }
  SECTION("multiplier and exponent favour different conditions: the verdict says how to read "
          "both") {
    f.multiplier->value = 2;
    f.multiplier->interval = fitting::Interval{1.5, 2.5};
    f.multiplier->favours = report::Favoured::kFirst;
    f.multiplier_and_exponent_disagree = true;
    f.crossing_flops = 5e11;
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("speech needs 2× the compute (95% interval [1.5, 2.5]) to "
                                  "match text's optimal loss: here speech does not beat text."));
    CHECK_THAT(v, Catch::Contains("Read together: text is ahead at the budgets measured, while "
                                  "speech's loss falls faster with compute, so text's lead "
                                  "shrinks as compute grows; the frontiers cross at about C ≈ "
                                  "5e11 exact FLOPs, below which text is the better choice and "
                                  "above which speech is."));
    f.crossing_flops = 3e14;
    CHECK_THAT(report::WordVerdict(f),
               Catch::Contains("cross at about C ≈ 3e14 exact FLOPs, beyond the sweep's largest "
                               "budget (both laws extrapolated), below which text"));
    f.crossing_flops.reset();
    f.exponents_differ = false;
    CHECK_THAT(report::WordVerdict(f),
               Catch::Contains("but the frontiers do not cross in the range searched, so text "
                               "stays the better choice there (if the steeper exponent is real: "
                               "it is not resolved)."));
  }
  SECTION("the multiplier and its trend both go against the exponent: no 'lead shrinks'") {
    f.multiplier->value = 3;
    f.multiplier->interval = fitting::Interval{1.3, 5};
    f.multiplier->favours = report::Favoured::kFirst;
    f.multiplier->at_smallest_budget = 1.4;  // rising: text's lead grows across the budgets
    f.multiplier_and_exponent_disagree = true;
    f.trend_and_exponent_disagree = true;
    f.exponents_differ = false;
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("Read together: text is ahead at the budgets measured and its "
                                  "lead grows across them, while speech's loss falls faster with "
                                  "compute: the exponent describes only the reducible loss L − E, "
                                  "and speech's irreducible loss E is higher (1.9 against 1.8): "
                                  "its loss falls faster towards a higher floor, but the "
                                  "frontiers do not cross in the range searched, so text stays "
                                  "the better choice there (if the steeper exponent is real: it "
                                  "is not resolved)."));
    CHECK_THAT(v, !Catch::Contains("lead shrinks") && !Catch::Contains("multiplier's trend favours"));
  }
  SECTION("the multiplier's trend and the exponent favour different conditions: E explains it") {
    f.multiplier->at_smallest_budget = 0.3;  // rising: text gains with compute
    f.trend_and_exponent_disagree = true;
    f.crossing_flops = 1e9;
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("Read together: the multiplier's trend favours text, the "
                                  "exponent speech, because the exponent describes only the "
                                  "reducible loss L − E, and speech's irreducible loss E is "
                                  "higher (1.9 against 1.8): its loss falls faster towards a "
                                  "higher floor; at the sweep's budgets, the multiplier, which "
                                  "compares the losses themselves, is the better guide."));
    CHECK_THAT(v, Catch::Contains("The frontiers cross at about 1e9 exact FLOPs, below the "
                                  "sweep's smallest budget (both laws extrapolated)."));
  }
  SECTION("without a bootstrap there is no interval and no test") {
    f.level.reset();
    f.multiplier->interval.reset();
    f.p_exponents_equal.reset();
    f.exponents_differ = false;
    const std::string v = report::WordVerdict(f);
    CHECK_THAT(v, Catch::Contains("with 0.5× the compute: it is 2× more compute-efficient."));
    CHECK_THAT(v, Catch::Contains("so speech scales better (no bootstrap, so no test of the "
                                  "difference)."));
  }
  SECTION("a degenerate fit is a caution first") {
    f.unsound.push_back({"speech", 1.4, 2e9, 1e6, 1e7, 2.5});
    CHECK_THAT(report::WordVerdict(f),
               Catch::StartsWith("Caution: the approach-3 fit of speech is degenerate (allocation "
                                 "exponent a = 1.4, optimal N at the largest budget 2e9 against "
                                 "trained sizes 1e6–1e7, predicted optimal loss 2.5)"));
  }
  SECTION("no comparison says how many conditions were fitted") {
    report::VerdictFacts none;
    none.conditions_fitted = 1;
    CHECK(report::WordVerdict(none) ==
          "No comparison: 1 condition(s) have an approach-3 fit and a comparison needs two. See "
          "the notes below for what could not be fitted.");
  }
}

TEST_CASE("the verdict's facts follow the fits: swapping the conditions swaps every decision",
          "[report]") {
  MarinReport& m = Marin();
  const report::VerdictFacts& f = m.analysis.verdict;
  const fitting::Comparison& cmp = *m.analysis.comparison;
  REQUIRE(f.compared);
  REQUIRE(f.level);
  CHECK(*f.level == 0.95);  // BootstrapOptions' default, read from the bootstrap
  CHECK(f.first == "comma");
  CHECK(f.exponent_first == cmp.first.loss_exponent);
  // The published data: dclm's loss falls faster (exponents about 0.234 and 0.251) and it
  // needs less compute, but the exponents' difference is inside the bootstrap's noise.
  CHECK(f.steeper == report::Favoured::kSecond);
  REQUIRE(f.multiplier);
  CHECK(f.multiplier->value < 1);
  CHECK(f.multiplier->favours == report::Favoured::kSecond);
  REQUIRE(f.p_exponents_equal);
  CHECK(*f.p_exponents_equal > 0.05);
  CHECK_FALSE(f.exponents_differ);
  CHECK_FALSE(f.multiplier_and_exponent_disagree);
  // The multiplier falls across the budgets (dclm gains), and dclm is the steeper: they agree.
  CHECK_FALSE(f.trend_and_exponent_disagree);
  CHECK(m.md.find(report::Verdict(m.analysis)) != std::string::npos);

  report::Analysis swapped = report::Analyze(m.store, Options({"dclm", "comma"}));
  const report::VerdictFacts& g = swapped.verdict;
  CHECK(g.first == "dclm");
  CHECK(g.steeper == report::Favoured::kFirst);
  REQUIRE(g.multiplier);
  CHECK(g.multiplier->value > 1);
  CHECK(g.multiplier->favours == report::Favoured::kFirst);
  CHECK(g.best->condition == f.best->condition);
}

TEST_CASE("a report of an imported sweep leaves out what it has no data for, one line each",
          "[report]") {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  const int64_t sweep_id = UpsertImportedSweep(store);
  AddDataset(store, sweep_id, "comma", "comma", 1.0, /*imported=*/true);
  AddDataset(store, sweep_id, "dclm", "dclm", 1.0, /*imported=*/true);
  report::ReportOptions o = Options({});
  o.bootstrap = 0;
  const report::Analysis analysis = report::Analyze(store, o);
  const report::ReportFiles files = report::WriteReport(analysis, dir.file("report"));
  const std::string md = ReadFile(files.markdown);
  CHECK_THAT(md, Catch::Contains("\n*Training curves — left out: no run has a train/loss curve "
                                 "(imported runs have none).*\n"));
  CHECK_THAT(md, Catch::Contains("\n*Downstream tasks — left out: no run has an evaluation.*\n"));
  CHECK_THAT(md, !Catch::Contains("## Training curves") && !Catch::Contains("## Downstream"));
  CHECK_THAT(md, Catch::Contains("No bootstrap was run (--bootstrap 0)"));
  CHECK_THAT(md, !Catch::Contains("nan") && !Catch::Contains("95%"));
  CHECK(fs::exists(fs::path(dir.file("report")) / "plots" / "loss_vs_compute.svg"));
  CHECK(fs::exists(fs::path(dir.file("report")) / "plots" / "isoflop_dclm.svg"));
  CHECK_FALSE(fs::exists(fs::path(dir.file("report")) / "plots" / "curves_comma.svg"));
  // The printed command makes this report again: conditions and factor included.
  CHECK_THAT(md, Catch::Contains("sims report --sweep marin --condition comma,dclm --metric "
                                 "val/loss/speech \\\n    --params total --bootstrap 0 --seed 7 "
                                 "--recommend-factor 10 --out DIR"));
}

TEST_CASE("the adaptive rounds section lists each round's runs with their spread and seed",
          "[report]") {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  const int64_t sweep_id = UpsertImportedSweep(store);
  AddDataset(store, sweep_id, "comma", "comma", 1.0, /*imported=*/true);
  report::ReportOptions o = Options({"comma"});
  o.bootstrap = 0;
  SECTION("a sweep without proposals has no such section") {
    const report::Analysis analysis = report::Analyze(store, o);
    CHECK(analysis.proposals.empty());
    const std::string md = ReadFile(report::WriteReport(analysis, dir.file("report")).markdown);
    CHECK_THAT(md, !Catch::Contains("Adaptive rounds") && !Catch::Contains("adaptive design"));
  }
  SECTION("proposals of two rounds") {
    const uint64_t seed = 18446744073709551557ull;  // above INT64_MAX: printed whole
    // Round 2 was a suggest --compare round: its target was the loss gap with another condition.
    REQUIRE(store.RecordProposals({{"comma-003", "comma", 1, seed, 1e21, 0.25, 0.6, "", ""},
                                   {"comma-001", "comma", 1, seed, 1e21, 0.125, 0.6, "", ""},
                                   {"comma-007", "comma", 2, 42, 1e21, 0.5, 0.3, "", "dclm"}}) == 3);
    const report::Analysis analysis = report::Analyze(store, o);
    REQUIRE(analysis.proposals.size() == 3);
    const RunRow run = *store.GetRun("comma-003");
    CHECK(analysis.proposals[0].proposal.run_id == "comma-003");  // in the order chosen
    CHECK(analysis.proposals[0].n_params == run.n_params);  // imported: N counts every parameter
    CHECK(analysis.proposals[0].tokens == run.tokens);
    CHECK(analysis.proposals[0].flops == run.flops);
    CHECK(analysis.proposals[2].proposal.round == 2);
    const std::string md = ReadFile(report::WriteReport(analysis, dir.file("report")).markdown);
    CHECK_THAT(md, Catch::Contains("3 of the runs were chosen by the adaptive design in 2 "
                                   "round(s) (see Adaptive rounds); the rest came from the sweep "
                                   "file's design."));
    CHECK_THAT(md, Catch::Contains("\n## Adaptive rounds\n"));
    CHECK_THAT(md, Catch::Contains("| round | condition | target | N_opt spread then | bootstrap "
                                   "seed | run | N (parameters) | D (tokens) | C (FLOPs as "
                                   "imported) | expected gain | status |"));
    // The round's shared facts on its first row only: exp(0.6) - 1 = 82.2%.
    CHECK_THAT(md, Catch::Contains(fmt::format(
                       "| 1 | comma | N_opt, optimal loss | ±82.2% at C = 1e21 | 18446744073709551557 "
                       "| comma-003 | {} | "
                       "{} | {} | 25.0% | done |",
                       FormatNumber(run.n_params), FormatNumber(run.tokens),
                       FormatNumber(run.flops))));
    CHECK_THAT(md, Catch::Contains("|  |  |  |  |  | comma-001 | "));
    CHECK_THAT(md, Catch::Contains(
                       "| 2 | comma | loss gap with dclm | ±35.0% at C = 1e21 | 42 | comma-007 | "));
  }
}

TEST_CASE("N counts what the sweep file says unless --params overrides it", "[report]") {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  // A planned sweep's TOML without n_includes_embedding: the planner's default, non-embedding.
  int64_t planned = store.UpsertSweep("planned", "[sweep]\nname = \"planned\"\n");
  AddDataset(store, planned, "comma", "comma", 0.5);
  report::ReportOptions o = Options({"comma"});
  o.sweep = "planned";
  o.bootstrap = 0;
  const report::Analysis by_sweep = report::Analyze(store, o);
  CHECK(by_sweep.non_embedding);
  o.params = "total";
  const report::Analysis total = report::Analyze(store, o);
  CHECK_FALSE(total.non_embedding);
  REQUIRE(by_sweep.conditions[0].data.points.size() == total.conditions[0].data.points.size());
  CHECK(by_sweep.conditions[0].data.points[0].n_params ==
        Approx(0.5 * total.conditions[0].data.points[0].n_params).epsilon(1e-6));
  // An imported sweep counts every parameter (N is what the file gives).
  CHECK_FALSE(Marin().analysis.non_embedding);
  o.params = "embeddings";
  CHECK_THROWS_WITH(report::Analyze(store, o), Catch::Contains("params = 'embeddings'"));
}

TEST_CASE("reporting on a sweep that is not there or has nothing done says so", "[report]") {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  int64_t sweep_id = store.UpsertSweep("empty", "");
  CHECK_THROWS_WITH(report::Analyze(store, Options({})),
                    Catch::Contains("no sweep named 'marin'") && Catch::Contains("empty"));
  store.InsertRuns(sweep_id, {{"r1", "textless", 1000, 900, 10000, 10, 6e7, 6e3, 6e7,
                               R"({"budget_flops": 6e7})", {}}});
  report::ReportOptions o = Options({});
  o.sweep = "empty";
  CHECK_THROWS_WITH(report::Analyze(store, o), Catch::Contains("no done run"));
}

TEST_CASE("conditions a-b and a.b get a plot file each, and a name breaking the rule stops the "
          "report",
          "[report][names]") {
  testing::TempDir dir;
  Store store = Store::Open(dir.file("sims.db"));
  const int64_t sweep_id = store.UpsertSweep("marin", "# punctuation in condition names");
  AddDataset(store, sweep_id, "comma", "a-b");
  AddDataset(store, sweep_id, "dclm", "a.b");
  report::ReportOptions o = Options({"a-b", "a.b"});
  o.bootstrap = 0;
  const report::Analysis analysis = report::Analyze(store, o);
  const report::ReportFiles files = report::WriteReport(analysis, dir.file("report"));
  const fs::path plots = fs::path(dir.file("report")) / "plots";
  // Once both became isoflop_a_b: one file, shown under both headings.
  CHECK(ReadFile(plots / "isoflop_a-b.gp").find("IsoFLOP profiles: a-b") != std::string::npos);
  CHECK(ReadFile(plots / "isoflop_a.b.gp").find("IsoFLOP profiles: a.b") != std::string::npos);
  const std::string md = ReadFile(files.markdown);
  CHECK_THAT(md, Catch::Contains("plots/isoflop_a-b.svg") &&
                     Catch::Contains("plots/isoflop_a.b.svg"));

  // A database written before names were checked can hold a condition with a newline: it never
  // becomes a file name or a line of a gnuplot script: the report stops before any fit, and the
  // plots refuse it too (a caller that builds an Analysis by hand).
  AddDataset(store, sweep_id, "comma", "x\nset output");
  o.conditions = {};
  CHECK_THROWS_WITH(report::Analyze(store, o),
                    Catch::Contains("condition name \"x\\nset output\" contains a newline"));
  report::Analysis by_hand = analysis;
  by_hand.conditions.front().condition = "x\nset output";
  CHECK_THROWS_WITH(report::WriteReport(by_hand, dir.file("hostile")),
                    Catch::Contains("condition name \"x\\nset output\" contains a newline"));
  CHECK_FALSE(fs::exists(fs::path(dir.file("hostile")) / "report.md"));
}

namespace {

// Every regular file under `dir` (relative name -> content).
std::map<std::string, std::string> ReportSet(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    files[fs::relative(entry.path(), dir).string()] = ReadFile(entry.path());
  }
  return files;
}

}  // namespace

TEST_CASE("a report killed at each rename is the old set or the new set, never a mix",
          "[report]") {
  MarinReport& m = Marin();
  testing::TempDir dir;
  // Two different reports of the same analysis: the second one with other run counts.
  report::Analysis changed = m.analysis;
  changed.runs_failed += 3;
  report::WriteReport(m.analysis, dir.file("old"));
  report::WriteReport(changed, dir.file("new"));
  const auto old_set = ReportSet(dir.file("old")), new_set = ReportSet(dir.file("new"));
  REQUIRE(old_set != new_set);
  REQUIRE(old_set.count("report.md"));

  for (int kill_at : {0, 1, 2}) {
    CAPTURE(kill_at);
    const std::string out = dir.file("report-" + std::to_string(kill_at));
    report::WriteReport(m.analysis, out);
    REQUIRE(ReportSet(out) == old_set);
    const pid_t child = ::fork();
    if (child == 0) {
      ::setenv(kKillAtRenameVariable, std::to_string(kill_at).c_str(), 1);
      try {
        report::WriteReport(changed, out);
      } catch (...) {
        ::_exit(3);
      }
      ::_exit(0);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL));
    const auto after = ReportSet(out);
    CHECK((after == old_set || after == new_set || (kill_at == 1 && after.empty())));
    // The next report recovers first (the old set comes back unless the new one was in place),
    // then writes its own.
    report::CheckReportFolder(out);
    CHECK(ReportSet(out) == (kill_at == 2 ? new_set : old_set));
    report::WriteReport(m.analysis, out);
    CHECK(ReportSet(out) == old_set);
  }
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    CHECK_FALSE(entry.path().filename().string().starts_with("."));
  }
}

TEST_CASE("a report never replaces a folder with files it did not write, and they survive",
          "[report]") {
  MarinReport& m = Marin();
  testing::TempDir dir;
  fs::create_directories(dir.path() / "mine");
  std::ofstream(dir.path() / "mine" / "notes.md") << "the user's notes";
  CHECK_THROWS_WITH(report::WriteReport(m.analysis, dir.file("mine")),
                    Catch::Contains("not a sims report") && Catch::Contains("report.md"));
  CHECK(ReadFile(dir.path() / "mine" / "notes.md") == "the user's notes");

  // A trailing slash names the folder itself.
  const report::ReportFiles files = report::WriteReport(m.analysis, dir.file("r") + "/");
  CHECK(files.markdown == dir.file("r") + "/report.md");
  CHECK(fs::exists(files.markdown));
  for (const std::string& plot : files.plots) CHECK(fs::exists(plot));
}

TEST_CASE("curves are smoothed from their first point, without lag from a starting value",
          "[report]") {
  // Weights decay^(t-i) over the points so far: (0.9 * 10 + 1 * 0) / 1.9 at the second point.
  const auto smoothed = report::SmoothedCurve({{1, 10}, {2, 0}, {3, 0}}, 0.9);
  REQUIRE(smoothed.size() == 3);
  CHECK(smoothed[0].second == Approx(10));
  CHECK(smoothed[1].second == Approx(9.0 / 1.9));
  CHECK(smoothed[2].second == Approx(8.1 / 2.71));
  CHECK(smoothed[2].first == 3);
  for (const auto& [x, y] : report::SmoothedCurve({{1, 4}, {2, 4}, {3, 4}}, 0.9)) CHECK(y == Approx(4));
}

TEST_CASE("figures: colour-blind-safe colours, a marker per condition, the data's end marked",
          "[report]") {
  MarinReport& m = Marin();
  const fs::path plots = fs::path(m.dir.file("report")) / "plots";
  const std::string frontier = ReadFile(plots / "loss_vs_compute.gp");
  // Okabe-Ito blue and vermillion; open circle (6) and open square (4) for the two conditions.
  CHECK_THAT(frontier, Catch::Contains("pt 6 ps 1.3 lw 1.5 lc rgb '#0072B2' title 'comma runs'"));
  CHECK_THAT(frontier, Catch::Contains("pt 4 ps 1.3 lw 1.5 lc rgb '#D55E00' title 'dclm runs'"));
  // The range past the largest run (3e20) is shaded; the axis names the convention.
  CHECK_THAT(frontier, Catch::Contains("set object 1 rect from 3e+20, graph 0"));
  CHECK_THAT(frontier, Catch::Contains("training compute C (FLOPs as imported)"));
  for (const char* name : {"loss_vs_compute.gp", "n_opt.gp", "isoflop_comma.gp", "downstream.gp",
                           "curves_comma.gp"}) {
    CAPTURE(name);
    // Viridis' and plasma's pale yellows, unreadable on white.
    const std::string script = ReadFile(plots / name);
    CHECK_THAT(script, !Catch::Contains("#bddf26") && !Catch::Contains("#fde725") &&
                           !Catch::Contains("#f0f921"));
  }
  // N_opt: the y range is set by the fitted values, so the bands are cut at it.
  CHECK_THAT(ReadFile(plots / "n_opt.gp"), Catch::Contains("set yrange ["));
  // Downstream: the chance line and a legend entry per condition and task.
  const std::string downstream = ReadFile(plots / "downstream.gp");
  CHECK_THAT(downstream, Catch::Contains("0.5 with lines lw 3 lc rgb '#bbbbbb' title 'chance (0.5)'"));
  CHECK_THAT(downstream, Catch::Contains("title 'dclm sblimp/speech'"));
}
