// Hugging Face checkpoints on the sims decoder: logits parity with transformers, vocabulary
// extension, export and reload. Reference logits: tests/fixtures/hf/reference.safetensors, made
// by tests/fixtures/make_fixtures.py with PyPI transformers (fp32, CPU).
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include <torch/torch.h>
// After torch: glog (via torch) defines CHECK too; Catch's definition must win.
#include <catch2/catch.hpp>

#include <fmt/format.h>

#include "common/error.h"
#include "tests/test_support.h"
#include "trainer/checkpoint.h"
#include "trainer/hf_model.h"
#include "trainer/hf/import_speech.h"
#include "trainer/hf/safetensors.h"
#include "trainer/hf/speech_vocab.h"
#include "trainer/hf/tokenizer.h"
#include "trainer/train.h"

namespace fs = std::filesystem;
using namespace sims::hf;

namespace {

const std::string kFixtures = SIMS_SOURCE_DIR "/tests/fixtures/hf";

torch::Tensor ReferenceInput() {
  const Checkpoint ref = OpenCheckpoint(kFixtures + "/reference.safetensors");
  const std::vector<int64_t> ids = ReadInts(ref.at("input_ids"));
  return torch::tensor(ids, torch::kInt64).view({1, -1});  // (1, T)
}

torch::Tensor ReferenceLogits(const std::string& model) {
  const Checkpoint ref = OpenCheckpoint(kFixtures + "/reference.safetensors");
  const TensorInfo& t = ref.at(model + "_logits");
  std::vector<float> values = ReadFloats(t);
  return torch::from_blob(values.data(), t.shape, torch::kFloat).clone();  // (T, V)
}

torch::Tensor Logits(sims::trainer::Decoder& model, const torch::Tensor& input) {
  torch::NoGradGuard no_grad;
  model->eval();
  return model->forward(input)[0];  // (T, V)
}

double MaxAbsDiff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

}  // namespace

TEST_CASE("our logits equal transformers' for a Llama and a Qwen2 checkpoint", "[hf]") {
  const std::string name = GENERATE(as<std::string>{}, "llama", "qwen2");
  CAPTURE(name);
  sims::trainer::Decoder model = LoadHfModel(kFixtures + "/" + name);
  const torch::Tensor reference = ReferenceLogits(name);
  const torch::Tensor logits = Logits(model, ReferenceInput());
  REQUIRE(logits.sizes() == reference.sizes());
  CHECK(reference.abs().max().item<double>() > 1.0);  // not a trivially small reference
  CHECK(MaxAbsDiff(logits, reference) <= 1e-4);
}

TEST_CASE("a wrong RoPE would be caught: theta and scaling both matter to the logits", "[hf]") {
  // Guards the parity test against passing by accident: the Llama fixture uses llama3 rope
  // scaling; plain theta must give logits that differ by far more than the tolerance.
  const HfModelConfig config = ReadHfConfig(kFixtures + "/llama");
  sims::trainer::DecoderOptions plain = DecoderOptionsFor(config);
  plain.rope_inv_freq.clear();
  sims::trainer::Decoder model = sims::trainer::MakeDecoder(plain, 0);
  LoadHfWeights(kFixtures + "/llama", config, *model);
  CHECK(MaxAbsDiff(Logits(model, ReferenceInput()), ReferenceLogits("llama")) > 1e-3);
}

TEST_CASE("extending the vocabulary for speech keeps the old tokens' logits", "[hf]") {
  const std::string name = GENERATE(as<std::string>{}, "llama", "qwen2");
  CAPTURE(name);
  const HfModelConfig config = ReadHfConfig(kFixtures + "/" + name);
  const BpeTokenizer tok = BpeTokenizer::Load(kFixtures + "/tokenizer_" +
                                              (name == "llama" ? "llama3" : "qwen2") + ".json");
  const sims::corpus::Vocabulary vocab = CheckpointVocabulary(tok, config);
  REQUIRE(vocab.vocab_size == 1024);
  sims::trainer::Decoder model = LoadHfModel(kFixtures + "/" + name, vocab.vocab_size);
  sims::trainer::InitUntrainedRows(model->embed_tokens->weight, vocab, 7);
  if (model->lm_head) sims::trainer::InitUntrainedRows(model->lm_head->weight, vocab, 8);

  const torch::Tensor logits = Logits(model, ReferenceInput());
  REQUIRE(logits.size(1) == 1024);
  // Columns of the tokenizer's ids are untouched; the checkpoint's spare rows [500, 512) became
  // units, as with slamkit's add_tokens.
  const int64_t text = tok.size();
  CHECK(MaxAbsDiff(logits.narrow(1, 0, text), ReferenceLogits(name).narrow(1, 0, text)) <= 1e-4);
  // Unit rows are initialised near the mean of the trained rows, and distinct.
  torch::Tensor emb = model->embed_tokens->weight.detach();
  torch::Tensor mean = emb.narrow(0, 0, tok.size()).mean(0);
  torch::Tensor unit0 = emb[vocab.Unit(0)], unit1 = emb[vocab.Unit(1)];
  CHECK((unit0 - unit1).abs().max().item<double>() > 0);
  CHECK((unit0 - mean).norm().item<double>() < 0.5 * mean.norm().item<double>() + 0.1);
}

TEST_CASE("an exported model reloads with the same logits", "[hf]") {
  sims::testing::TempDir dir;
  const std::string name = GENERATE(as<std::string>{}, "llama", "qwen2");
  CAPTURE(name);
  const HfModelConfig config = ReadHfConfig(kFixtures + "/" + name);
  sims::trainer::Decoder model = LoadHfModel(kFixtures + "/" + name, 1024);
  ExportHfModel(*model, config, dir.file("out"), "float32");
  const HfModelConfig exported = ReadHfConfig(dir.file("out"));
  CHECK(exported.shape.vocab_size == 1024);
  CHECK(exported.shape.tied_embeddings == config.shape.tied_embeddings);
  CHECK(exported.rope_scaling.type == config.rope_scaling.type);
  CHECK(OpenCheckpoint(dir.file("out")).has("lm_head.weight") == !config.shape.tied_embeddings);
  sims::trainer::Decoder reloaded = LoadHfModel(dir.file("out"));
  const torch::Tensor input = ReferenceInput();
  CHECK(MaxAbsDiff(Logits(reloaded, input), Logits(model, input)) == 0.0);
  CHECK(MaxAbsDiff(Logits(reloaded, input).narrow(1, 0, 512), ReferenceLogits(name)) <= 1e-4);
  SECTION("bf16 export rounds each weight to bf16") {
    ExportHfModel(*model, config, dir.file("bf16"), "bfloat16");
    const Checkpoint ckpt = OpenCheckpoint(dir.file("bf16"));
    CHECK(ckpt.at("model.norm.weight").dtype == "BF16");
    sims::trainer::Decoder half = LoadHfModel(dir.file("bf16"));
    const torch::Tensor w = model->norm->weight.detach();
    CHECK(torch::equal(half->norm->weight.detach(), w.to(torch::kBFloat16).to(torch::kFloat)));
  }
}

TEST_CASE("checkpoint tensors that do not fit are named", "[hf]") {
  sims::testing::TempDir dir;
  const std::string out = dir.file("bad");
  fs::create_directories(out);
  fs::copy_file(kFixtures + "/llama/config.json", out + "/config.json");
  const Checkpoint good = OpenCheckpoint(kFixtures + "/llama");
  std::vector<std::vector<float>> storage;
  std::vector<TensorToWrite> tensors;
  storage.reserve(good.tensors.size() + 1);
  for (const auto& [name, t] : good.tensors) {
    if (name == "model.norm.weight") continue;
    storage.push_back(ReadFloats(t));
    tensors.push_back({name, t.shape, storage.back()});
  }
  SECTION("missing") {
    WriteSafetensors(out + "/model.safetensors", tensors);
    CHECK_THROWS_WITH(LoadHfModel(out), Catch::Contains("model.norm.weight"));
  }
  SECTION("wrong shape") {
    storage.push_back(std::vector<float>(31, 1.0f));
    tensors.push_back({"model.norm.weight", {31}, storage.back()});
    WriteSafetensors(out + "/model.safetensors", tensors);
    CHECK_THROWS_WITH(LoadHfModel(out), Catch::Contains("model.norm.weight") &&
                                            Catch::Contains("[31]") && Catch::Contains("[32]"));
  }
  SECTION("left over") {
    storage.push_back(std::vector<float>(32, 1.0f));
    tensors.push_back({"model.norm.weight", {32}, storage.back()});
    storage.push_back(std::vector<float>(32, 0.0f));
    tensors.push_back({"model.layers.0.self_attn.o_proj.bias", {32}, storage.back()});
    WriteSafetensors(out + "/model.safetensors", tensors);
    CHECK_THROWS_WITH(LoadHfModel(out), Catch::Contains("o_proj.bias"));
  }
  SECTION("a smaller vocabulary than the checkpoint's") {
    CHECK_THROWS_WITH(LoadHfModel(kFixtures + "/llama", 256), Catch::Contains("256"));
  }
}

TEST_CASE("a run with init = checkpoint trains from the checkpoint on a corpus imported with its "
          "tokenizer", "[hf]") {
  sims::testing::TempDir dir;
  const std::string ckpt = dir.file("ckpt");
  fs::create_directories(ckpt);
  for (const char* f : {"config.json", "model.safetensors"}) {
    fs::copy_file(kFixtures + "/llama/" + f, ckpt + "/" + f);
  }
  fs::copy_file(kFixtures + "/tokenizer_llama3.json", ckpt + "/tokenizer.json");
  {
    std::ofstream speech(dir.file("speech.jsonl")), text(dir.file("text.txt"));
    for (int i = 0; i < 40; ++i) {  // 4 words of 5 frames each, one unit per frame pair
      speech << fmt::format(R"({{"file_name": "u{}.flac", "units": [{}, {}, {}, {}, {}, {}, {}, {}],)"
                            R"( "duration": [2, 3, 2, 3, 2, 3, 2, 3], "aligned_text": [["the", 0, 0.2],)"
                            R"( ["quick", 0.2, 0.4], ["brown", 0.4, 0.6], ["fox", 0.6, 0.8]]}})",
                            i, i % 500, (i * 7) % 500, (i * 13) % 500, 3, 4, 5, 6, 7)
             << "\n";
      text << "The quick brown fox jumps over the lazy dog, again and again " << i << ".\n";
    }
  }
  SpeechImportOptions import;
  import.checkpoint = ckpt;
  import.speech_files = {dir.file("speech.jsonl")};
  import.text_files = {dir.file("text.txt")};
  import.valid_fraction = 0.3;
  import.test_fraction = 0;
  ImportSpeechForCheckpoint(import, dir.file("corpus"), false);
  const sims::corpus::Vocabulary vocab = sims::corpus::LoadVocabulary(dir.file("corpus"));

  sims::RunConfig config;
  config.sweep = "hf";
  config.condition = "interleaved";
  config.design = sims::DesignKind::kGrid;
  config.seed = 3;
  config.shape = ReadHfConfig(ckpt).shape;
  config.shape.vocab_size = vocab.vocab_size;
  config.init.kind = sims::InitKind::kCheckpoint;
  config.init.checkpoint_path = ckpt;
  config.mixture = {.text = 1, .speech = 1, .interleaved = 1};
  config.hp.lr = 1e-9;  // two steps that barely move: the final weights show where they began
  config.hp.context = 16;
  config.hp.micro_batch_tokens = 4 * 16;
  config.hp.batch_tokens = 8 * 16;
  config.hp.eval_every = 0;
  config.steps = 2;
  config.tokens = config.steps * config.hp.batch_tokens;
  config.corpus = dir.file("corpus");
  sims::TrainEnvironment env;
  env.run_dir = dir.file("run");
  env.corpus_dir = dir.file("corpus");
  sims::TrainHooks hooks;
  std::map<std::string, double> last;
  hooks.emit = [&](const std::vector<sims::MetricRow>& metrics, const std::vector<sims::EvalRow>&) {
    for (const sims::MetricRow& m : metrics) last[m.name] = m.value;
  };
  hooks.progress = [](int64_t) {};
  hooks.stop_requested = [] { return false; };
  REQUIRE(sims::TrainRun("hfrun", config, env, hooks) == sims::TrainOutcome::kFinished);
  CHECK(std::isfinite(last.at("train/loss")));

  sims::trainer::Decoder trained =
      sims::trainer::MakeDecoder(CheckpointRunOptions("hfrun", ckpt, config.shape), 0);
  sims::trainer::LoadWeights(sims::FinalWeightsPath(env.run_dir), trained);
  sims::trainer::Decoder original = LoadHfModel(ckpt, vocab.vocab_size);
  const int64_t text = vocab.text_count;
  CHECK(MaxAbsDiff(trained->embed_tokens->weight.detach().narrow(0, 0, text),
                   original->embed_tokens->weight.detach().narrow(0, 0, text)) < 1e-5);
  CHECK(MaxAbsDiff(trained->layers[0]->as<sims::trainer::DecoderLayer>()->mlp->up_proj->weight.detach(),
                   original->layers[0]->as<sims::trainer::DecoderLayer>()->mlp->up_proj->weight.detach()) < 1e-5);

  SECTION("a planned shape that is not the checkpoint's is named") {
    config.shape.d_ff = 128;
    CHECK_THROWS_WITH(sims::TrainRun("hfbad", config, env, hooks),
                      Catch::Contains("d_ff") && Catch::Contains("128") && Catch::Contains("64"));
  }
}
