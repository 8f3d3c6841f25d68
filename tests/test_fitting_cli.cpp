// End to end through the sims binary: import published IsoFLOP points as a sweep, fit them from
// the store (the same numbers as fitting the CSV directly), recommend from the stored fit.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "fitting/approach2.h"
#include "fitting/data.h"
#include "fitting/laws.h"
#include "orchestrator/cli/suggest.h"
#include "results/store.h"
#include "sweeps/candidates.h"
#include "sweeps/validate.h"
#include "tests/test_support.h"

namespace {

// Runs `sims --db DB ARGS`, returns stdout; REQUIREs the exit code.
std::string Sims(const std::string& db, const std::string& args, int expected_exit = 0) {
  sims::testing::TempDir out;
  const std::string command =
      std::string(SIMS_BINARY) + " --db " + db + " --log-level error " + args + " > " + out.file("o") + " 2> " + out.file("e");
  const int status = std::system(command.c_str());
  std::ifstream o(out.file("o")), e(out.file("e"));
  std::stringstream text, err;
  text << o.rdbuf();
  err << e.rdbuf();
  CAPTURE(command, err.str());
  REQUIRE(WEXITSTATUS(status) == expected_exit);
  return expected_exit == 0 ? text.str() : err.str();
}

}  // namespace

TEST_CASE("imported IsoFLOP data fits from the store as from the CSV, and recommend uses the stored fit",
          "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  const std::string csv = SIMS_SOURCE_DIR "/tests/data/isoflops_marin_misfitting.csv";
  Sims(db, "import " + csv + " --sweep marin --condition comma --where dataset=comma --drop-outliers");
  // Importing twice adds nothing.
  CHECK_THAT(Sims(db, "import " + csv + " --sweep marin --condition comma --where dataset=comma --drop-outliers"),
             Catch::Matchers::Contains("0 new runs"));
  const auto fit = nlohmann::json::parse(
      Sims(db, "fit --sweep marin --condition comma --approach 2 --bootstrap 50 --format json"));
  sims::fitting::CsvOptions o;
  o.drop_outliers = true;
  o.where = {{"dataset", "comma"}};
  const auto direct = sims::fitting::FitApproach2(sims::fitting::ReadPointsCsv(csv, o).points);
  CHECK(fit["approach"] == 2);
  CHECK(fit["n_opt"]["exponent"].get<double>() == Approx(direct.n_opt.exponent).epsilon(1e-9));
  CHECK(fit["n_budgets"].get<size_t>() == direct.vertices.size());
  CHECK(fit["intervals"].contains("n_opt.exponent"));

  const auto fit3 = nlohmann::json::parse(
      Sims(db, "fit --sweep marin --condition comma --approach 3 --bootstrap 100 --holdout 1 --format json"));
  CHECK(fit3["starts"] == 4500);
  CHECK(fit3["intervals"].contains("alpha"));
  CHECK(fit3["holdout"]["held_out_budgets"] == 1);
  const int64_t id = fit3["fit_id"].get<int64_t>();
  const auto rec = nlohmann::json::parse(
      Sims(db, "recommend --budget 1e21 --fit " + std::to_string(id) + " --vocab-size 32000 --format json"));
  CHECK(rec["budget"] == 1e21);
  // The recommendation spends the budget in the file's own convention (its budget column is
  // not 6ND): 1e21 / 6ND lies within the file's own range of C / 6ND.
  double ratio_lo = HUGE_VAL, ratio_hi = 0;
  for (const auto& p : sims::fitting::ReadPointsCsv(csv, o).points) {
    ratio_lo = std::min(ratio_lo, p.budget / (6 * p.n_params * p.tokens));
    ratio_hi = std::max(ratio_hi, p.budget / (6 * p.n_params * p.tokens));
  }
  const double ratio = 1e21 / (6 * rec["n_params"].get<double>() * rec["tokens"].get<double>());
  CHECK(ratio_hi / ratio_lo > 1.01);  // a file whose C is not 6ND, or this check proves nothing
  CHECK(ratio >= ratio_lo);
  CHECK(ratio <= ratio_hi);
  CHECK(rec["flops_convention"] == "data");
  CHECK(rec["intervals"]["n_params"][0].get<double>() <= rec["n_params"].get<double>());
  CHECK(rec["intervals"]["n_params"][1].get<double>() >= rec["n_params"].get<double>());
  CHECK(rec["shape"].contains("layers"));

  SECTION("fit errors are one line naming the problem, exit code 1") {
    CHECK_THAT(Sims(db, "fit --sweep nope", 1), Catch::Matchers::Contains("no sweep 'nope'"));
    CHECK_THAT(Sims(db, "fit --data " + csv + " --columns loss=nope", 1), Catch::Matchers::Contains("no column 'nope'"));
  }
}

TEST_CASE("compare on two published datasets prints exponents, multipliers and p-values", "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string csv = SIMS_SOURCE_DIR "/tests/data/isoflops_marin_misfitting.csv";
  const auto c = nlohmann::json::parse(Sims(dir.file("sims.db"),
                                            "compare --data " + csv +
                                                " --condition-column dataset --conditions comma,dclm --drop-outliers "
                                                "--bootstrap 50 --format json"));
  CHECK(c["first"]["condition"] == "comma");
  CHECK(c["second"]["condition"] == "dclm");
  CHECK(c["multipliers"].size() > 0);
  CHECK(c["p_allocation_exponent"].get<double>() > 0);
  CHECK(c["p_allocation_exponent"].get<double>() <= 1);
  CHECK(c["first"].contains("a_interval"));
}

namespace {

// Finishes the runs of `condition` in `db`'s tiny demo that `keep` accepts with losses from
// `law` (1% noise, seeded), as a worker would.
void FinishRuns(const std::string& db, const std::string& condition,
                const sims::fitting::LawParams& law,
                const std::function<bool(const sims::RunRow&)>& keep, uint64_t seed) {
  sims::Store store = sims::Store::Open(db, sims::OpenMode::kExisting);
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0, 0.01);
  for (const sims::RunRow& r : store.ListRuns({"demo-cpu-tiny", condition, std::nullopt})) {
    if (!keep(r)) continue;
    REQUIRE(store.ClaimRun("test", 1000, 60, "demo-cpu-tiny", r.id));
    const double loss = sims::fitting::PredictLoss(law, static_cast<double>(r.n_params_non_embedding),
                                                   static_cast<double>(r.tokens)) *
                        std::exp(noise(rng));
    store.InsertMetrics({sims::MetricRow{r.id, r.total_steps, r.tokens, "val/loss/speech", loss}});
    REQUIRE(store.FinishRun(r.id, "test", 1001));
  }
}

// Plans examples/demo-cpu-tiny.toml into `db` (copied beside it) and finishes the textless runs
// that `keep` accepts with losses from a known law (1% noise), as a worker would.
std::string TinySweepWithDoneRuns(const sims::testing::TempDir& dir, const std::string& db,
                                  const std::function<bool(const sims::RunRow&)>& keep) {
  const std::string spec = dir.file("demo-cpu-tiny.toml");
  std::filesystem::copy_file(SIMS_SOURCE_DIR "/examples/demo-cpu-tiny.toml", spec);
  Sims(db, "plan " + spec);
  FinishRuns(db, "textless", {2.0, 60, 300, 0.35, 0.3}, keep, 7);
  return spec;
}

}  // namespace

TEST_CASE("sims suggest ranks the runs the planner can build, and --apply plans them once, "
          "one round per apply",
          "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  // Everything below the largest budget (3e10) is done; what is most worth training next?
  const std::string spec =
      TinySweepWithDoneRuns(dir, db, [](const sims::RunRow& r) { return r.budget_flops < 2e10; });
  std::set<std::string> done;
  {
    sims::Store store = sims::Store::Open(db, sims::OpenMode::kExisting);
    for (const auto& r : store.ListRuns({"demo-cpu-tiny", "textless", sims::RunStatus::kDone})) {
      done.insert(r.id);
    }
  }
  REQUIRE(done.size() >= 6);
  const auto out = nlohmann::json::parse(
      Sims(db, "suggest " + spec + " --condition textless --resamples 60 --format json"));
  const auto& c = out["conditions"][0];
  CHECK(c["done_runs"] == done.size());
  CHECK(c["target_budget"].get<double>() == Approx(1e11));  // 10x the largest done budget
  CHECK(c["spend_flops"].get<double>() == c["spent_flops"].get<double>());  // double the spend
  REQUIRE(!c["proposals"].empty());
  double cost = 0;
  std::set<std::string> proposed;
  for (const auto& p : c["proposals"]) {
    CHECK_FALSE(done.count(p["id"].get<std::string>()));
    CHECK(p["gain"].get<double>() > 0);
    cost += p["flops"].get<double>();
    proposed.insert(p["id"].get<std::string>());
  }
  CHECK(cost <= c["spend_flops"].get<double>() * (1 + 1e-12));
  for (const auto& t : c["targets"]) CHECK(t["sd_after"].get<double>() < t["sd_before"].get<double>());

  // --apply stores the proposals as planned runs; applying again adds nothing.
  const auto count_runs = [&] {
    return sims::Store::Open(db, sims::OpenMode::kExisting).ListRuns({"demo-cpu-tiny", "", std::nullopt}).size();
  };
  const size_t before = count_runs();
  const auto first = nlohmann::json::parse(
      Sims(db, "suggest " + spec + " --condition textless --resamples 60 --apply --format json"));
  const size_t added = first["conditions"][0]["applied"]["new"].get<size_t>();
  CHECK(count_runs() == before + added);
  const auto second = nlohmann::json::parse(
      Sims(db, "suggest " + spec + " --condition textless --resamples 60 --apply --format json"));
  CHECK(second["conditions"][0]["applied"]["new"] == 0);
  CHECK(count_runs() == before + added);

  // Each apply is a round; the proposals table keeps the round each run was first chosen in,
  // with the seed the bootstrap used (the one the JSON printed).
  const auto proposals = [&] {
    return sims::Store::Open(db, sims::OpenMode::kExisting).Proposals("demo-cpu-tiny");
  };
  CHECK(first["round"] == 1);
  const auto& applied1 = first["conditions"][0];
  CHECK(applied1["applied"]["recorded"] == applied1["proposals"].size());
  const uint64_t seed1 = applied1["bootstrap_seed"].get<uint64_t>();
  std::set<std::string> round1;
  for (const sims::ProposalRow& p : proposals()) {
    CHECK(p.round == 1);
    CHECK(p.compared_with.empty());  // the condition's own N_opt and loss were the target
    CHECK(p.seed == seed1);
    CHECK(p.condition == "textless");
    CHECK(p.target_budget == Approx(1e11));
    round1.insert(p.run_id);
  }
  std::set<std::string> first_ids;
  for (const auto& p : applied1["proposals"]) first_ids.insert(p["id"].get<std::string>());
  CHECK(round1 == first_ids);  // the chosen runs only, not the text LMs they depend on
  // The same proposals again: round 2 was offered, nothing new was recorded in it.
  CHECK(second["round"] == 2);
  CHECK(second["conditions"][0]["applied"]["recorded"] == 0);
  CHECK(proposals().size() == round1.size());

  // Another seed and more spend: round 2 holds only the runs not proposed before.
  const double spend = 4 * c["spent_flops"].get<double>();
  const auto third = nlohmann::json::parse(
      Sims(db, fmt::format("suggest {} --condition textless --resamples 60 --seed 11 --spend {} "
                           "--apply --format json",
                           spec, spend)));
  CHECK(third["round"] == 2);
  const uint64_t seed3 = third["conditions"][0]["bootstrap_seed"].get<uint64_t>();
  CHECK(seed3 != seed1);
  size_t new_proposals = 0;
  for (const auto& p : third["conditions"][0]["proposals"]) {
    new_proposals += !round1.count(p["id"].get<std::string>());
  }
  REQUIRE(new_proposals > 0);
  CHECK(third["conditions"][0]["applied"]["recorded"] == new_proposals);
  for (const sims::ProposalRow& p : proposals()) {
    CAPTURE(p.run_id);
    CHECK(p.round == (round1.count(p.run_id) ? 1 : 2));
    CHECK(p.seed == (round1.count(p.run_id) ? seed1 : seed3));
  }
  CHECK(proposals().size() == round1.size() + new_proposals);
}

TEST_CASE("sims suggest --compare spends on either condition to pin the compute multiplier, and "
          "--apply records each run under its condition",
          "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  auto cheaper = [](const sims::RunRow& r) { return r.budget_flops < 2e10; };
  const std::string spec = TinySweepWithDoneRuns(dir, db, cheaper);
  FinishRuns(db, "text-lm", {2.0, 60, 300, 0.35, 0.3}, [](const sims::RunRow&) { return true; }, 8);
  // Interleaved: a floor well below textless's, so that every law of its bootstrap reaches
  // textless's optimal loss at the target budget.
  FinishRuns(db, "interleaved", {1.5, 60, 300, 0.35, 0.3}, cheaper, 9);
  const auto out = nlohmann::json::parse(Sims(
      db, "suggest " + spec + " --compare textless,interleaved --resamples 40 --apply --format json"));
  const auto& c = out["comparison"];
  CHECK(c["compare"] == nlohmann::json({"textless", "interleaved"}));
  REQUIRE(c["conditions"].size() == 2);
  CHECK(c["conditions"][1]["condition"] == "interleaved");
  CHECK(c["target_budget"].get<double>() == Approx(1e11));
  REQUIRE(c["targets"].size() == 1);
  CHECK(c["targets"][0]["name"] == "ln loss gap at 1e11");
  CHECK(c["targets"][0]["sd_after"].get<double>() < c["targets"][0]["sd_before"].get<double>());
  // The default spend is what both conditions' done runs cost.
  CHECK(c["spend_flops"].get<double>() ==
        Approx(c["conditions"][0]["spent_flops"].get<double>() +
               c["conditions"][1]["spent_flops"].get<double>()));
  REQUIRE(!c["proposals"].empty());
  std::map<std::string, std::string> condition_of;
  double cost = 0;
  for (const auto& p : c["proposals"]) {
    const std::string condition = p["condition"].get<std::string>();
    CHECK((condition == "textless" || condition == "interleaved"));
    condition_of[p["id"].get<std::string>()] = condition;
    cost += p["flops"].get<double>();
  }
  CHECK(cost <= c["spend_flops"].get<double>() * (1 + 1e-12));
  CHECK(out["round"] == 1);
  CHECK(c["applied"]["recorded"] == c["proposals"].size());
  {
    sims::Store store = sims::Store::Open(db, sims::OpenMode::kExisting);
    const auto recorded = store.Proposals("demo-cpu-tiny");
    CHECK(recorded.size() == condition_of.size());
    for (const sims::ProposalRow& p : recorded) {
      CAPTURE(p.run_id);
      CHECK(p.condition == condition_of.at(p.run_id));
      CHECK(p.compared_with == (p.condition == "textless" ? "interleaved" : "textless"));
      CHECK(p.round == 1);
      CHECK(p.n_opt_sd_before > 0);
      const auto run = store.GetRun(p.run_id);
      REQUIRE(run);
      CHECK(run->condition == p.condition);
    }
  }
  // Applying again adds no run and records nothing.
  const auto again = nlohmann::json::parse(Sims(
      db, "suggest " + spec + " --compare textless,interleaved --resamples 40 --apply --format json"));
  CHECK(again["comparison"]["applied"]["new"] == 0);
  CHECK(again["comparison"]["applied"]["recorded"] == 0);

  CHECK_THAT(Sims(db, "suggest " + spec + " --compare textless,textless", 1),
             Catch::Matchers::Contains("--compare takes two different conditions"));
  CHECK_THAT(Sims(db, "suggest " + spec + " --compare textless,nope", 1),
             Catch::Matchers::Contains("--compare nope: not a condition of"));
}

TEST_CASE("a suggestion refits warm from the last round's law and sizes the law's misfit",
          "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  const std::string spec_path =
      TinySweepWithDoneRuns(dir, db, [](const sims::RunRow& r) { return r.budget_flops < 2e10; });
  const sims::SweepSpec spec = sims::LoadSweepFile(spec_path);
  const sims::SweepPlan candidates = sims::PlanSweep(sims::WithCandidatePoints(spec));
  sims::Store store = sims::Store::Open(db, sims::OpenMode::kExisting);
  sims::GlobalOptions global;
  global.db = db;
  sims::SuggestOptions o;
  o.spec_path = spec_path;
  o.resamples = 40;
  const sims::ConditionSuggestion cold = sims::SuggestCondition(o, global, store, spec, candidates, "textless");
  CHECK(cold.fit.starts == 4500);
  // The done runs follow the law with 1% noise: the misfit is at least the noise's size and,
  // the law being exact, not many times it.
  const double noise = cold.json["noise_sd"].get<double>(), misfit = cold.json["misfit_sd"].get<double>();
  CHECK(misfit >= noise);
  CHECK(misfit < 0.05);

  // A warm refit from the last round's law reaches the same law (fitting::RefitOptions).
  const sims::ConditionSuggestion warm =
      sims::SuggestCondition(o, global, store, spec, candidates, "textless", &cold.fit);
  CHECK(warm.fit.starts == 244);
  CHECK(warm.fit.objective == Approx(cold.fit.objective).epsilon(1e-9));
}

TEST_CASE("sims suggest on a sweep with too few done runs says what it needs", "[fitting][cli]") {
  sims::testing::TempDir dir;
  const std::string db = dir.file("sims.db");
  int kept = 0;
  const std::string spec = TinySweepWithDoneRuns(dir, db, [&](const sims::RunRow&) { return kept++ < 3; });
  const std::string err = Sims(db, "suggest " + spec + " --condition textless", 1);
  CHECK_THAT(err, Catch::Matchers::Contains("condition textless: 3 done runs cannot be fitted yet") &&
                      Catch::Matchers::Contains("at least 6 done runs"));
  CHECK_THAT(Sims(db, "suggest " + spec + " --condition nope", 1),
             Catch::Matchers::Contains("--condition nope: not a condition of"));
}
