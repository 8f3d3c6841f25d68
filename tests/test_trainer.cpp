// Trainer unit tests: the model's shape and parameter names, the optimiser and schedule,
// checkpoints, the data sampler and pair scoring against hand-computed log-likelihoods.
#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>

#include "common/error.h"
#include "sweeps/shape.h"
#include "tests/test_support.h"
#include "tests/test_trainer_corpus.h"
#include "trainer/bench.h"
#include "trainer/checkpoint.h"
#include "trainer/data.h"
#include "trainer/model.h"
#include "trainer/optim.h"
#include "trainer/scoring.h"

using namespace sims;
using namespace sims::trainer;

namespace {

DecoderOptions Options(ModelShape shape) {
  DecoderOptions o;
  o.shape = shape;
  return o;
}

}  // namespace

TEST_CASE("the built decoder has exactly the planner's parameter count", "[trainer]") {
  auto [layers, d_model, heads, kv_heads, d_ff, vocab, tied, bias] =
      GENERATE(table<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool>({
          {1, 32, 2, 2, 64, 576, true, false},
          {2, 64, 4, 4, 192, 1024, false, false},
          {3, 96, 6, 2, 256, 1088, true, false},   // grouped-query attention
          {2, 64, 4, 2, 128, 640, false, true},    // Qwen2-like q/k/v biases
          {4, 128, 8, 8, 384, 1024, true, false},
      }));
  const ModelShape shape{layers, d_model, heads, kv_heads, d_ff, vocab, tied, bias};
  CAPTURE(layers, d_model, heads, kv_heads, d_ff, vocab, tied, bias);
  Decoder model = MakeDecoder(Options(shape), 1);
  const ParamCounts planned = CountParams(shape);
  CHECK(CountParameters(*model) == planned.total);
  int64_t embedding = 0;
  for (const auto& p : model->named_parameters()) {
    if (p.key() == "embed_tokens.weight" || p.key() == "lm_head.weight") embedding += p.value().numel();
  }
  CHECK(embedding == planned.embedding);
}

TEST_CASE("parameters carry the Hugging Face Llama names", "[trainer]") {
  const ModelShape shape{2, 32, 4, 2, 64, 128, false, true};
  Decoder model = MakeDecoder(Options(shape), 1);
  std::map<std::string, std::vector<int64_t>> sizes;
  for (const auto& p : model->named_parameters()) sizes[p.key()] = p.value().sizes().vec();
  CHECK(sizes.at("embed_tokens.weight") == std::vector<int64_t>{128, 32});
  CHECK(sizes.at("layers.1.self_attn.q_proj.weight") == std::vector<int64_t>{32, 32});
  CHECK(sizes.at("layers.1.self_attn.k_proj.weight") == std::vector<int64_t>{16, 32});
  CHECK(sizes.at("layers.1.self_attn.k_proj.bias") == std::vector<int64_t>{16});
  CHECK(sizes.at("layers.0.self_attn.o_proj.weight") == std::vector<int64_t>{32, 32});
  CHECK(sizes.at("layers.0.mlp.gate_proj.weight") == std::vector<int64_t>{64, 32});
  CHECK(sizes.at("layers.0.mlp.down_proj.weight") == std::vector<int64_t>{32, 64});
  CHECK(sizes.at("layers.0.input_layernorm.weight") == std::vector<int64_t>{32});
  CHECK(sizes.at("layers.0.post_attention_layernorm.weight") == std::vector<int64_t>{32});
  CHECK(sizes.at("norm.weight") == std::vector<int64_t>{32});
  CHECK(sizes.at("lm_head.weight") == std::vector<int64_t>{128, 32});
  CHECK(sizes.count("layers.0.self_attn.o_proj.bias") == 0);
}

TEST_CASE("bench presets are the demo sweep's sizes and the smallest one trains", "[trainer]") {
  const sims::SweepSpec demo = sims::LoadSweepFile(SIMS_SOURCE_DIR "/examples/demo-cpu.toml");
  const std::vector<sims::TrainBenchPreset> presets = sims::TrainBenchPresets(demo);
  const auto& sizes = demo.conditions.front().design.sizes;
  REQUIRE(presets.size() == sizes.size() + 2);  // + width-10m, gpt2-124m
  for (size_t i = 0; i < sizes.size(); ++i) {
    CAPTURE(presets[i].name);
    CHECK(presets[i].name == "demo-" + sizes[i].label);
    CHECK(presets[i].options.shape.d_model == sizes[i].shape.d_model);
    CHECK(presets[i].options.shape.layers == sizes[i].shape.layers);
    CHECK(presets[i].options.context == demo.conditions.front().hp.context);
  }
  CHECK(presets.back().name == "gpt2-124m");
  const sims::TrainBenchPreset width = sims::FindTrainBenchPreset(demo, "width-10m");
  CHECK(sims::CountParams(width.options.shape).total == Approx(10e6).epsilon(0.15));
  CHECK_THROWS_WITH(sims::FindTrainBenchPreset(demo, "demo-1B"),
                    Catch::Contains("unknown preset 'demo-1B'") && Catch::Contains("gpt2-124m"));

  sims::TrainBenchOptions smallest = presets.front().options;
  smallest.warmup_steps = 1;
  smallest.steps = 2;
  smallest.min_seconds = 0;
  const sims::TrainBenchResult r = sims::BenchTrain(smallest);
  CHECK(r.steps == 2);
  CHECK(r.device == "cpu");
  CHECK(r.n_params == sims::CountParams(smallest.shape).total);
  CHECK(r.tokens_per_sec > 0);

  // The data-parallel benchmark's loop with one rank (2 ranks need peer processes: the ranks
  // tests and `sims bench train --ranks 2` start them).
  sims::testing::TempDir dir;
  const std::vector<sims::RanksBenchResult> ranks =
      sims::BenchTrainRanks(smallest, {1}, dir.path().string(), [](int64_t, int) {});
  REQUIRE(ranks.size() == 1);
  CHECK(ranks[0].tokens_per_sec > 0);
  CHECK(ranks[0].optimizer_bytes == 8.0 * static_cast<double>(ranks[0].n_params));
}

TEST_CASE("a bad shape is refused with the field named", "[trainer]") {
  ModelShape shape{2, 30, 4, 4, 64, 128, true, false};
  CHECK_THROWS_WITH(MakeDecoder(Options(shape), 1), Catch::Contains("d_model = 30"));
  shape = {2, 32, 4, 3, 64, 128, true, false};
  CHECK_THROWS_WITH(MakeDecoder(Options(shape), 1), Catch::Contains("kv_heads = 3"));
}

TEST_CASE("the decoder is causal: a later token never changes earlier logits", "[trainer]") {
  const ModelShape shape{2, 32, 4, 2, 64, 64, true, false};
  Decoder model = MakeDecoder(Options(shape), 3);
  torch::NoGradGuard no_grad;
  torch::Tensor a = torch::randint(0, 64, {1, 12}, torch::kInt64);
  torch::Tensor b = a.clone();
  b[0][11] = (a[0][11].item<int64_t>() + 1) % 64;
  torch::Tensor la = model->forward(a), lb = model->forward(b);
  CHECK(torch::equal(la.narrow(1, 0, 11), lb.narrow(1, 0, 11)));
  CHECK_FALSE(torch::allclose(la.narrow(1, 11, 1), lb.narrow(1, 11, 1)));
}

TEST_CASE("the same seed builds the same weights", "[trainer]") {
  const ModelShape shape{2, 32, 4, 4, 64, 64, true, false};
  Decoder a = MakeDecoder(Options(shape), 5), b = MakeDecoder(Options(shape), 5),
          c = MakeDecoder(Options(shape), 6);
  CHECK(torch::equal(a->embed_tokens->weight, b->embed_tokens->weight));
  CHECK_FALSE(torch::equal(a->embed_tokens->weight, c->embed_tokens->weight));
  // Residual projections are scaled down by sqrt(2 * layers) = 2.
  const double sd_o = a->named_parameters()["layers.0.self_attn.o_proj.weight"].std().item<double>();
  CHECK(sd_o == Approx(0.01).epsilon(0.15));
}

TEST_CASE("a tiny model overfits one batch", "[trainer]") {
  at::set_num_threads(1);
  const ModelShape shape{1, 32, 2, 2, 64, 64, true, false};
  Decoder model = MakeDecoder(Options(shape), 2);
  Hyperparameters hp;
  hp.lr = 1e-2;
  hp.weight_decay = 0;
  auto optimizer = MakeAdamW(model, hp);
  torch::manual_seed(0);
  torch::Tensor batch = torch::randint(0, 64, {4, 17}, torch::kInt64);
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    optimizer->zero_grad();
    torch::Tensor loss = NextTokenLoss(model, batch);
    loss.backward();
    optimizer->step();
    (step == 0 ? first : last) = loss.item<double>();
  }
  CHECK(first == Approx(std::log(64.0)).epsilon(0.05));  // uniform guess over 64 tokens
  CHECK(last < 0.1);
}

TEST_CASE("weight decay applies to projections only", "[trainer]") {
  const ModelShape shape{1, 32, 2, 2, 64, 64, false, true};
  Decoder model = MakeDecoder(Options(shape), 1);
  Hyperparameters hp;
  hp.weight_decay = 0.1;
  auto optimizer = MakeAdamW(model, hp);
  REQUIRE(optimizer->param_groups().size() == 2);
  auto& decay = optimizer->param_groups()[0];
  auto& no_decay = optimizer->param_groups()[1];
  CHECK(static_cast<torch::optim::AdamWOptions&>(decay.options()).weight_decay() == 0.1);
  CHECK(static_cast<torch::optim::AdamWOptions&>(no_decay.options()).weight_decay() == 0.0);
  // q, k, v, o, gate, up, down, lm_head; embedding, 2 layer norms, final norm, 3 biases.
  CHECK(decay.params().size() == 8);
  CHECK(no_decay.params().size() == 7);
}

TEST_CASE("the schedule warms up linearly and decays by a cosine to the floor", "[trainer]") {
  Hyperparameters hp;
  hp.lr = 1e-3;
  hp.warmup_fraction = 0.1;
  hp.min_lr_ratio = 0.1;
  const int64_t steps = 101;  // 10 warmup steps, then 91 steps of decay over p = 0 .. 1
  CHECK(WarmupSteps(steps, 0.1) == 10);
  CHECK(WarmupSteps(100, 0.001) == 1);  // at least one step
  CHECK(LearningRate(0, steps, hp) == Approx(1e-4));
  CHECK(LearningRate(4, steps, hp) == Approx(5e-4));
  CHECK(LearningRate(9, steps, hp) == Approx(1e-3));
  CHECK(LearningRate(10, steps, hp) == Approx(1e-3));                 // p = 0
  CHECK(LearningRate(55, steps, hp) == Approx(1e-4 + 9e-4 * 0.5));  // p = 1/2
  CHECK(LearningRate(100, steps, hp) == Approx(1e-4));               // p = 1
  const double p = 20.0 / 90.0;
  CHECK(LearningRate(30, steps, hp) ==
        Approx(1e-4 + 9e-4 * 0.5 * (1 + std::cos(std::numbers::pi * p))));
}

namespace {

// One AdamW step on random tokens, so that every parameter has optimizer state to save.
void StepOnce(Decoder& model, torch::optim::AdamW& optimizer) {
  optimizer.zero_grad();
  NextTokenLoss(model, torch::randint(0, 64, {2, 9}, torch::kInt64)).backward();
  optimizer.step();
}

}  // namespace

TEST_CASE("checkpoints round-trip, keep the newest K and ignore temp files", "[trainer]") {
  sims::testing::TempDir dir;
  const ModelShape shape{1, 32, 2, 2, 64, 64, true, false};
  Decoder model = MakeDecoder(Options(shape), 1);
  Hyperparameters hp;
  auto optimizer = MakeAdamW(model, hp);
  StepOnce(model, *optimizer);
  for (int64_t step : {2, 4, 6}) {
    SaveCheckpoint(dir.path().string(), "run1", {step, step * 100, step * 3}, model,
                   ReadAdamW(*optimizer, model), 2);
  }
  std::ofstream(dir.path() / "checkpoints" / "step-000000099.pt.tmp") << "half written";
  REQUIRE(NewestCheckpoint(dir.path().string()).has_value());
  CHECK(NewestCheckpoint(dir.path().string())->ends_with("step-000000006.pt"));
  CHECK_FALSE(std::filesystem::exists(dir.path() / "checkpoints" / "step-000000002.pt"));
  CHECK(std::filesystem::exists(dir.path() / "checkpoints" / "step-000000004.pt"));

  Decoder other = MakeDecoder(Options(shape), 99);
  auto other_optimizer = MakeAdamW(other, hp);
  LoadedCheckpoint loaded =
      LoadCheckpoint(*NewestCheckpoint(dir.path().string()), "run1", other, hp);
  const TrainState& state = loaded.state;
  WriteAdamW(*other_optimizer, other, loaded.optimizer);
  const std::vector<AdamWSlot> saved = ReadAdamW(*optimizer, model);
  const std::vector<AdamWSlot> restored = ReadAdamW(*other_optimizer, other);
  REQUIRE(restored.size() == saved.size());
  for (size_t i = 0; i < saved.size(); ++i) {
    CAPTURE(saved[i].name);
    CHECK(restored[i].step == 1);
    CHECK(torch::equal(restored[i].exp_avg, saved[i].exp_avg));
    CHECK(torch::equal(restored[i].exp_avg_sq, saved[i].exp_avg_sq));
  }
  CHECK(state.step == 6);
  CHECK(state.tokens == 600);
  CHECK(state.samples == 18);
  for (const auto& p : model->named_parameters()) {
    CHECK(torch::equal(p.value(), other->named_parameters()[p.key()]));
  }
  CHECK_THROWS_WITH(LoadCheckpoint(*NewestCheckpoint(dir.path().string()), "run2", other, hp),
                    Catch::Contains("belongs to run run1"));
  std::ofstream(dir.file("garbage.pt")) << "not a checkpoint";
  CHECK_THROWS_AS(LoadWeights(dir.file("garbage.pt"), other), UserError);
  CHECK_THROWS_WITH(LoadWeights(dir.file("missing.pt"), other), Catch::Contains("does not exist"));
}

TEST_CASE("a checkpoint that cannot be written fails with its path and cause, and the previous "
          "one stays intact", "[trainer]") {
  sims::testing::TempDir dir;
  const ModelShape shape{1, 32, 2, 2, 64, 64, true, false};
  Decoder model = MakeDecoder(Options(shape), 1);
  Hyperparameters hp;
  auto optimizer = MakeAdamW(model, hp);
  SaveCheckpoint(dir.path().string(), "run1", {2, 200, 6}, model, ReadAdamW(*optimizer, model), 1);
  const std::string kept = *NewestCheckpoint(dir.path().string());

  // A full disk, simulated with a file size limit: past it write() fails with EFBIG (SIGXFSZ
  // is ignored so that it does not kill the test). LibTorch's own writer threw from its
  // destructor here, which aborted the process.
  struct rlimit before {};
  ::getrlimit(RLIMIT_FSIZE, &before);
  struct rlimit small = before;
  small.rlim_cur = 4096;
  auto* previous_handler = std::signal(SIGXFSZ, SIG_IGN);
  REQUIRE(::setrlimit(RLIMIT_FSIZE, &small) == 0);
  std::string message;
  try {
    SaveCheckpoint(dir.path().string(), "run1", {4, 400, 12}, model, ReadAdamW(*optimizer, model),
                   1);
  } catch (const UserError& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &before);
  std::signal(SIGXFSZ, previous_handler);

  CHECK_THAT(message, Catch::Contains("step-000000004.pt") && Catch::Contains("File too large"));
  CHECK(NewestCheckpoint(dir.path().string()) == kept);
  CHECK_FALSE(std::filesystem::exists(dir.path() / "checkpoints" / "step-000000004.pt.tmp"));
  Decoder other = MakeDecoder(Options(shape), 99);
  CHECK(LoadCheckpoint(kept, "run1", other, hp).state.step == 2);
}

TEST_CASE("a version-1 checkpoint (LibTorch's optimizer archive) is still read", "[trainer]") {
  sims::testing::TempDir dir;
  const ModelShape shape{1, 32, 2, 2, 64, 64, true, false};
  Decoder model = MakeDecoder(Options(shape), 1);
  Hyperparameters hp;
  auto optimizer = MakeAdamW(model, hp);
  StepOnce(model, *optimizer);
  // The layout session-4 sims wrote: the header at version 1, then LibTorch's own archives.
  torch::serialize::OutputArchive archive, model_archive, optimizer_archive;
  archive.write("format", c10::IValue(std::string("sims-checkpoint")));
  archive.write("version", c10::IValue(int64_t{1}));
  archive.write("run_id", c10::IValue(std::string("old")));
  archive.write("step", c10::IValue(int64_t{1}));
  archive.write("tokens", c10::IValue(int64_t{18}));
  archive.write("samples", c10::IValue(int64_t{2}));
  model->save(model_archive);
  optimizer->save(optimizer_archive);
  archive.write("model", model_archive);
  archive.write("optimizer", optimizer_archive);
  std::filesystem::create_directories(dir.path() / "checkpoints");
  archive.save_to((dir.path() / "checkpoints" / "step-000000001.pt").string());

  Decoder other = MakeDecoder(Options(shape), 99);
  LoadedCheckpoint loaded =
      LoadCheckpoint(*NewestCheckpoint(dir.path().string()), "old", other, hp);
  CHECK(loaded.state.tokens == 18);
  const std::vector<AdamWSlot> saved = ReadAdamW(*optimizer, model);
  for (size_t i = 0; i < saved.size(); ++i) {
    CAPTURE(saved[i].name);
    CHECK(loaded.optimizer[i].step == 1);
    CHECK(torch::equal(loaded.optimizer[i].exp_avg, saved[i].exp_avg));
  }
}

TEST_CASE("weights of another shape are refused", "[trainer]") {
  sims::testing::TempDir dir;
  Decoder small = MakeDecoder(Options({1, 32, 2, 2, 64, 64, true, false}), 1);
  SaveWeights(dir.file("final.pt"), "r", small);
  Decoder wide = MakeDecoder(Options({1, 64, 2, 2, 64, 64, true, false}), 1);
  CHECK_THROWS_AS(LoadWeights(dir.file("final.pt"), wide), UserError);
}

TEST_CASE("extended-vocabulary rows start at the mean of the trained rows plus noise", "[trainer]") {
  corpus::Vocabulary vocab = corpus::MakeSyntheticVocabulary({"a", "b", "c"}, 20);
  torch::manual_seed(0);
  torch::Tensor weight = torch::randn({vocab.vocab_size, 8}) + 3.0;
  const torch::Tensor before = weight.clone();
  InitUntrainedRows(weight, vocab, 1);
  CHECK(torch::equal(weight[vocab.Text(1)], before[vocab.Text(1)]));
  CHECK(torch::equal(weight[vocab.bos], before[vocab.bos]));
  torch::Tensor trained = torch::stack({before[vocab.bos], before[vocab.eos], before[vocab.Text(0)],
                                        before[vocab.Text(1)], before[vocab.Text(2)]});
  torch::Tensor units = weight.narrow(0, vocab.unit_begin, vocab.unit_count);
  // 20 rows of mean + N(0, (0.1 sd)^2): their mean is within 0.1 sd * 4 / sqrt(20) of it.
  CHECK(torch::allclose(units.mean(0), trained.mean(0), 0, 0.1 * trained.std().item<double>()));
  CHECK((units - trained.mean(0)).std().item<double>() ==
        Approx(0.1 * trained.std().item<double>()).epsilon(0.25));
  CHECK_FALSE(torch::equal(weight[vocab.Unit(0)], weight[vocab.Unit(1)]));
  CHECK_FALSE(torch::equal(weight[vocab.speech_marker], before[vocab.speech_marker]));
  torch::Tensor again = before.clone();
  InitUntrainedRows(again, vocab, 1);
  CHECK(torch::equal(again, weight));  // seeded
}

TEST_CASE("the sampler follows the mixture, is a function of the sample index, and fails on a "
          "missing shard", "[trainer]") {
  sims::testing::TempDir dir;
  corpus::Vocabulary vocab = sims::testing::WriteTinyCorpus(dir.path().string(), 40);
  MixtureSampler sampler(dir.path().string(), vocab.hash, {.text = 1, .speech = 3, .interleaved = 0},
                         16, 5);
  int counts[3] = {0, 0, 0};
  for (int64_t i = 0; i < 4000; ++i) counts[sampler.StreamOf(i)] += 1;
  CHECK(counts[2] == 0);
  CHECK(counts[1] / 4000.0 == Approx(0.75).margin(0.03));
  torch::Tensor whole = sampler.Batch(0, 8);
  CHECK(whole.sizes().vec() == std::vector<int64_t>{8, 17});
  CHECK(torch::equal(whole.narrow(0, 5, 3), sampler.Batch(5, 3)));
  // Windows are real corpus text: a speech window follows the unit chain.
  for (int64_t i = 0; i < 8; ++i) {
    if (sampler.StreamOf(i) != 1) continue;
    auto row = whole[i];
    for (int64_t t = 0; t + 1 < 17; ++t) {
      const auto a = static_cast<int32_t>(row[t].item<int64_t>());
      const auto b = static_cast<int32_t>(row[t + 1].item<int64_t>());
      if (vocab.IsUnit(a) && vocab.IsUnit(b)) {
        CHECK(b == vocab.Unit(sims::testing::NextUnit(a - vocab.unit_begin)));
      }
    }
  }
  std::filesystem::remove(corpus::StreamShardPath(dir.path().string(), "train", "speech"));
  CHECK_THROWS_WITH(MixtureSampler(dir.path().string(), vocab.hash, {.speech = 1}, 16, 5),
                    Catch::Contains("train/speech.bin"));
}

// A decoder whose next-token distribution is a bigram table we choose: attention and MLP
// outputs are zero (o_proj = down_proj = 0), embedding row x is a * e_x for x < C, so after
// RMSNorm the residual is sqrt(C) * e_x and the untied head gives logits[v] = sqrt(C) * W[v, x].
// Setting W[v, x] = table(x, v) / sqrt(C) makes the logits exactly table(x, ·).
namespace {

double Table(int x, int v) { return 0.25 * ((x * 7 + v * 3) % 11) - 0.1 * (v % 4); }

Decoder BigramModel(int64_t V, int64_t C) {
  Decoder model = MakeDecoder(Options({1, C, 2, 2, 32, V, false, false}), 1);
  torch::NoGradGuard no_grad;
  for (auto& p : model->named_parameters()) {
    if (p.key().ends_with("o_proj.weight") || p.key().ends_with("down_proj.weight")) p.value().zero_();
  }
  torch::Tensor& embed = model->embed_tokens->weight;
  embed.zero_();
  for (int64_t x = 0; x < C; ++x) embed[x][x] = 1000.0;  // large: RMSNorm's eps is negligible
  torch::Tensor& head = model->lm_head->weight;
  for (int64_t v = 0; v < V; ++v) {
    for (int64_t x = 0; x < C; ++x) head[v][x] = Table(x, v) / std::sqrt(double(C));
  }
  return model;
}

// log p(v | x) by hand, over `candidates` (all of 0..V-1, or the units only).
double LogProb(int x, int v, const std::vector<int>& candidates) {
  double z = 0;
  for (int c : candidates) z += std::exp(Table(x, c));
  return Table(x, v) - std::log(z);
}

}  // namespace

TEST_CASE("pair scoring matches hand-computed log-likelihoods", "[trainer]") {
  const int64_t V = 64, C = 32;
  Decoder model = BigramModel(V, C);
  corpus::Vocabulary vocab;  // ids below C so that every input has its own embedding direction
  vocab.bos = 1;
  vocab.unit_begin = 5;
  vocab.unit_count = 6;  // units 5..10
  vocab.text_begin = 11;
  vocab.text_count = 10;  // text 11..20
  vocab.vocab_size = V;
  std::vector<int> all, units;
  for (int v = 0; v < V; ++v) all.push_back(v);
  for (int v = 5; v < 11; ++v) units.push_back(v);

  const std::vector<int32_t> prefix = {12, 3}, continuation = {6, 14, 9};
  ScoringOptions options;
  auto scored = ScoreContinuations(model, vocab, {{prefix, continuation}, {{}, {7}}}, options);
  // [BOS, 12, 3, 6, 14, 9]: the continuation is predicted from 3, 6 and 14.
  const double expected = LogProb(3, 6, all) + LogProb(6, 14, all) + LogProb(14, 9, all);
  CHECK(scored[0].tokens == 3);
  CHECK(scored[0].sum == Approx(expected).margin(1e-4));
  CHECK(scored[1].tokens == 1);
  CHECK(scored[1].sum == Approx(LogProb(1, 7, all)).margin(1e-4));

  SECTION("unit-only renormalisation scores units over the unit vocabulary") {
    options.unit_only = true;
    auto unit_scored = ScoreContinuations(model, vocab, {{prefix, continuation}}, options);
    CHECK(unit_scored[0].tokens == 2);  // 6 and 9; the text token 14 is masked out
    CHECK(unit_scored[0].sum ==
          Approx(LogProb(3, 6, units) + LogProb(14, 9, units)).margin(1e-4));
  }
  SECTION("mean and sum rank members differently, ties count one half") {
    // Candidates after BOS: pick a short member with a low log-prob and a long member whose
    // sum is lower but whose mean is higher.
    const std::vector<int32_t> one = {5}, two = {7, 7, 7, 7};
    const double one_ll = LogProb(1, 5, all);
    const double two_sum = LogProb(1, 7, all) + 3 * LogProb(7, 7, all);
    REQUIRE(two_sum < one_ll);             // by sum, `one` wins
    REQUIRE(two_sum / 4 > one_ll);         // by mean, `two` wins
    corpus::PairSet set;
    set.pairs = {{{}, two, one}, {{}, one, one}};  // the second pair is a tie
    PairAccuracy mean = ScorePairs(model, vocab, set, options);
    CHECK(mean.n_pairs == 2);
    CHECK(mean.accuracy == Approx(0.75));  // right + tie
    options.mean = false;
    PairAccuracy sum = ScorePairs(model, vocab, set, options);
    CHECK(sum.accuracy == Approx(0.25));  // wrong + tie
  }
}
