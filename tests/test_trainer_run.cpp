// TrainRun end to end on a tiny corpus: loss falls, metrics and evals are emitted, the planned
// tokens are consumed exactly, a run is deterministic, resumes bit-for-bit after a graceful
// stop and after SIGKILL, starts from a text LM, and fails clearly on NaN or a missing shard.
#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>

#include "tests/test_support.h"
#include "tests/test_trainer_corpus.h"
#include "trainer/checkpoint.h"
#include "trainer/model.h"
#include "trainer/train.h"

extern char** environ;

using namespace sims;

namespace {

struct Recorded {
  std::map<std::string, std::map<int64_t, double>> metrics;  // name -> step -> value
  std::vector<EvalRow> evals;
};

TrainHooks Recording(Recorded& r, std::function<bool()> stop = nullptr,
                     std::function<void(int64_t)> progress = nullptr) {
  TrainHooks hooks;
  hooks.emit = [&r](const std::vector<MetricRow>& metrics, const std::vector<EvalRow>& evals) {
    for (const MetricRow& m : metrics) r.metrics[m.name].emplace(m.step, m.value);
    r.evals.insert(r.evals.end(), evals.begin(), evals.end());
  };
  hooks.stop_requested = stop ? stop : [] { return false; };
  hooks.progress = progress ? progress : [](int64_t) {};
  return hooks;
}

TrainEnvironment Environment(const std::string& run_dir, const std::string& corpus_dir) {
  TrainEnvironment env;
  env.run_dir = run_dir;
  env.corpus_dir = corpus_dir;
  env.threads = 1;
  return env;
}

}  // namespace

TEST_CASE("a tiny run lowers its loss, emits every metric and consumes the planned tokens",
          "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 60);
  config.hp.eval_every = 30;
  Recorded r;
  const auto outcome = TrainRun("tiny1", config, Environment(dir.file("run"), corpus), Recording(r));
  CHECK(outcome == TrainOutcome::kFinished);
  CHECK(std::filesystem::exists(FinalWeightsPath(dir.file("run"))));
  const auto& loss = r.metrics["train/loss"];
  REQUIRE(loss.size() == 60);
  CHECK(loss.at(1) == Approx(std::log(double(vocab.vocab_size))).epsilon(0.05));
  CHECK(loss.at(60) < 0.5 * loss.at(1));
  CHECK(r.metrics["train/tokens"].at(60) == config.tokens);
  CHECK(r.metrics["train/lr"].at(60) == Approx(config.hp.lr * config.hp.min_lr_ratio));
  CHECK(r.metrics["train/grad_norm"].size() == 60);
  CHECK(r.metrics["train/tokens_per_sec"].at(60) > 0);
  // Two fp32 moments per parameter, reported once, at the first step.
  trainer::DecoderOptions options;
  options.shape = config.shape;
  const int64_t n_params = trainer::CountParameters(*trainer::MakeDecoder(options, 1, torch::kCPU));
  REQUIRE(r.metrics["train/optimizer_bytes"].size() == 1);
  CHECK(r.metrics["train/optimizer_bytes"].at(1) == 2.0 * 4.0 * static_cast<double>(n_params));
  for (const char* stream : {"val/loss/speech", "val/loss/text", "val/loss/interleaved"}) {
    CAPTURE(stream);
    REQUIRE(r.metrics[stream].size() == 2);  // steps 30 and 60
    CHECK(r.metrics[stream].at(60) < 0.5 * std::log(double(vocab.vocab_size)));
  }
  REQUIRE(r.evals.size() == 2);
  CHECK(r.evals[1].task == "sblimp/speech");
  CHECK(r.evals[1].step == 60);
  CHECK(r.evals[1].n_pairs == 40);
  CHECK(r.evals[1].accuracy >= 0.75);  // chance is 0.5: the chain is learnt, shuffles break it
}

TEST_CASE("evaluation keys: pairs per task, summed scores and unit-only accuracies", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 4);
  config.hp.eval_pairs = 10;
  config.hp.eval_score = EvalScore::kSum;
  config.hp.eval_unit_only = true;
  Recorded r;
  TrainRun("evals", config, Environment(dir.file("run"), corpus), Recording(r));
  std::map<std::string, int64_t> pairs;
  for (const EvalRow& e : r.evals) {
    pairs[e.task] = e.n_pairs;
    CHECK(e.accuracy >= 0);
    CHECK(e.accuracy <= 1);
  }
  CHECK(pairs == std::map<std::string, int64_t>{{"sblimp/speech", 10},
                                                {"sblimp/speech/unit-only", 10}});
}

TEST_CASE("the same run twice gives identical losses", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 6);
  Recorded a, b;
  TrainRun("det", config, Environment(dir.file("a"), corpus), Recording(a));
  TrainRun("det", config, Environment(dir.file("b"), corpus), Recording(b));
  CHECK(a.metrics["train/loss"] == b.metrics["train/loss"]);
  CHECK(a.metrics["val/loss/speech"] == b.metrics["val/loss/speech"]);
}

TEST_CASE("a stopped run resumes and continues with bit-identical losses", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 8);
  Recorded whole;
  TrainRun("resume", config, Environment(dir.file("whole"), corpus), Recording(whole));

  Recorded first, second;
  int64_t at = 0;
  const auto env = Environment(dir.file("parts"), corpus);
  auto outcome = TrainRun("resume", config, env,
                          Recording(first, [&] { return at == 3; }, [&](int64_t s) { at = s; }));
  REQUIRE(outcome == TrainOutcome::kStopped);
  CHECK(first.metrics["train/loss"].size() == 3);
  outcome = TrainRun("resume", config, env, Recording(second));
  REQUIRE(outcome == TrainOutcome::kFinished);
  CHECK(second.metrics["train/loss"].begin()->first == 4);
  for (int64_t step = 4; step <= 8; ++step) {
    CAPTURE(step);
    CHECK(second.metrics["train/loss"].at(step) == whole.metrics["train/loss"].at(step));
  }
  CHECK(second.metrics["val/loss/text"] == whole.metrics["val/loss/text"]);
}

// The child half of the SIGKILL test: trains with a checkpoint every 2 steps and kills itself
// (SIGKILL, no cleanup) right after step 5. Hidden: only run by the parent below.
TEST_CASE("kill child", "[.trainer-kill-child]") {
  const char* dir = std::getenv("SIMS_KILL_TEST_DIR");
  if (dir == nullptr) return;
  const std::string corpus = std::string(dir) + "/corpus";
  auto vocab = corpus::LoadVocabulary(corpus);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 8);
  TrainEnvironment env = Environment(std::string(dir) + "/killed", corpus);
  env.checkpoint_every = 2;
  Recorded r;
  TrainRun("killed", config, env, Recording(r, nullptr, [](int64_t step) {
             if (step == 5) ::raise(SIGKILL);
           }));
}

TEST_CASE("a run killed with SIGKILL resumes from its last checkpoint bit-for-bit", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 8);
  Recorded whole;
  TrainRun("killed", config, Environment(dir.file("whole"), corpus), Recording(whole));

  const std::string exe = std::filesystem::read_symlink("/proc/self/exe").string();
  const std::string env_entry = "SIMS_KILL_TEST_DIR=" + dir.path().string();
  std::vector<char*> child_env = {const_cast<char*>(env_entry.c_str())};
  for (char** e = environ; *e != nullptr; ++e) child_env.push_back(*e);
  child_env.push_back(nullptr);
  char* argv[] = {const_cast<char*>(exe.c_str()), const_cast<char*>("kill child"), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, child_env.data()) == 0);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  auto newest = trainer::NewestCheckpoint(dir.file("killed"));
  REQUIRE(newest.has_value());
  CHECK(newest->ends_with("step-000000004.pt"));

  Recorded resumed;
  TrainEnvironment env = Environment(dir.file("killed"), corpus);
  env.checkpoint_every = 2;
  REQUIRE(TrainRun("killed", config, env, Recording(resumed)) == TrainOutcome::kFinished);
  CHECK(resumed.metrics["train/loss"].begin()->first == 5);
  for (int64_t step = 5; step <= 8; ++step) {
    CAPTURE(step);
    CHECK(resumed.metrics["train/loss"].at(step) == whole.metrics["train/loss"].at(step));
  }
}

TEST_CASE("a run starts from its text LM's final weights", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig text_lm = sims::testing::TinyRunConfig(vocab, corpus, 20);
  text_lm.condition = "text-lm";
  text_lm.mixture = {.text = 1, .speech = 0, .interleaved = 0};
  Recorded text_record;
  REQUIRE(TrainRun("textlm", text_lm, Environment(dir.file("textlm"), corpus),
                   Recording(text_record)) == TrainOutcome::kFinished);

  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 1);
  config.init = {.kind = sims::InitKind::kTextLm, .run_id = "textlm", .checkpoint_path = ""};
  config.hp.lr = 1e-9;  // one step that barely moves: the evaluation sees the loaded weights
  TrainEnvironment env = Environment(dir.file("inter"), corpus);
  env.init_weights = FinalWeightsPath(dir.file("textlm"));
  Recorded from_text, from_scratch;
  TrainRun("inter", config, env, Recording(from_text));
  config.init = {};
  TrainRun("scratch", config, Environment(dir.file("scratch"), corpus), Recording(from_scratch));
  // The run starts as the text LM (unit rows are kept, see checkpoint.h): same text loss,
  // well below a scratch model's.
  const double text_lm_loss = text_record.metrics["val/loss/text"].at(20);
  CHECK(from_text.metrics["val/loss/text"].at(1) == Approx(text_lm_loss).margin(1e-3));
  CHECK(text_lm_loss < from_scratch.metrics["val/loss/text"].at(1) - 1.0);

  env.init_weights = dir.file("nowhere.pt");
  config.init = {.kind = sims::InitKind::kTextLm, .run_id = "textlm", .checkpoint_path = ""};
  env.run_dir = dir.file("inter2");
  CHECK_THROWS_WITH(TrainRun("inter2", config, env, Recording(from_text)),
                    Catch::Contains("nowhere.pt"));
}

TEST_CASE("a non-finite loss fails the run naming the run and the step", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 3);
  // Weights with a NaN in the final norm, saved as a text LM's final weights.
  trainer::DecoderOptions options;
  options.shape = config.shape;
  trainer::Decoder poisoned = trainer::MakeDecoder(options, 1);
  {
    torch::NoGradGuard no_grad;
    poisoned->norm->weight[0] = std::numeric_limits<float>::quiet_NaN();
  }
  trainer::SaveWeights(dir.file("nan.pt"), "nan", poisoned);
  config.init = {.kind = sims::InitKind::kTextLm, .run_id = "nan", .checkpoint_path = ""};
  TrainEnvironment env = Environment(dir.file("run"), corpus);
  env.init_weights = dir.file("nan.pt");
  Recorded r;
  CHECK_THROWS_WITH(TrainRun("nanrun", config, env, Recording(r)),
                    Catch::Contains("run nanrun: step 1") && Catch::Contains("non-finite"));
}

TEST_CASE("a missing shard or a too-small vocabulary fails before training", "[trainer]") {
  sims::testing::TempDir dir;
  const std::string corpus = dir.file("corpus");
  auto vocab = sims::testing::WriteTinyCorpus(corpus, 60);
  RunConfig config = sims::testing::TinyRunConfig(vocab, corpus, 3);
  Recorded r;
  config.shape.vocab_size = 64;
  CHECK_THROWS_WITH(TrainRun("small", config, Environment(dir.file("a"), corpus), Recording(r)),
                    Catch::Contains("vocab_size"));
  config.shape.vocab_size = vocab.vocab_size;
  config.tokens += 1;
  CHECK_THROWS_WITH(TrainRun("tok", config, Environment(dir.file("b"), corpus), Recording(r)),
                    Catch::Contains("run tok: tokens = 769 must be steps * batch_tokens = 3 * 256"));
  config.tokens -= 1;
  // The planner's rules, which the trainer did not apply before there was one Validate.
  config.hp.lr = 20;
  CHECK_THROWS_WITH(TrainRun("lr", config, Environment(dir.file("d"), corpus), Recording(r)),
                    Catch::Contains("run lr: lr = 20 must be in (0, 10)"));
  config.hp.lr = 3e-3;
  std::filesystem::remove(corpus::StreamShardPath(corpus, "train", "interleaved"));
  CHECK_THROWS_WITH(TrainRun("miss", config, Environment(dir.file("c"), corpus), Recording(r)),
                    Catch::Contains("interleaved.bin"));
  CHECK(r.metrics.empty());
}
