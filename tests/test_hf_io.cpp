// Torch-free Hugging Face I/O: safetensors, config.json mapping, the byte-level BPE tokenizer.
// Reference values come from tests/fixtures/hf/, made by tests/fixtures/make_fixtures.py with
// PyPI safetensors / transformers / tokenizers.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "tests/test_support.h"
#include "trainer/corpus/info.h"
#include "trainer/corpus/shard.h"
#include "trainer/corpus/vocab.h"
#include "trainer/hf/hf_config.h"
#include "trainer/hf/import_speech.h"
#include "trainer/hf/safetensors.h"
#include "trainer/hf/speech_vocab.h"
#include "trainer/hf/tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::json;
using namespace sims::hf;

namespace {

const std::string kFixtures = SIMS_SOURCE_DIR "/tests/fixtures/hf";

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

}  // namespace

TEST_CASE("safetensors floats read as the reference library wrote them, in every dtype", "[hf]") {
  const Checkpoint ckpt = ReadSafetensorsHeader(kFixtures + "/dtypes.safetensors");
  CHECK(ckpt.metadata.at("note") == "sims");
  const std::vector<float> f32 = ReadFloats(ckpt.at("f32"));
  CHECK(ckpt.at("f32").shape == std::vector<int64_t>{2, 3});
  CHECK(f32 == std::vector<float>{1.0f, -2.5f, 0.15625f, 65504.0f, -0.0f, 3.0e-5f});
  // f16: 3e-5 is subnormal there, 503 * 2^-24; everything else exact.
  const std::vector<float> f16 = ReadFloats(ckpt.at("f16"));
  CHECK(f16 == std::vector<float>{1.0f, -2.5f, 0.15625f, 65504.0f, -0.0f, std::ldexp(503.0f, -24)});
  CHECK(std::signbit(f16[4]));
  // bf16 keeps 8 significant bits: 65504 rounds to 65536; 3e-5 within 2^-9 relative.
  const std::vector<float> bf16 = ReadFloats(ckpt.at("bf16"));
  CHECK(bf16[0] == 1.0f);
  CHECK(bf16[1] == -2.5f);
  CHECK(bf16[3] == 65536.0f);
  CHECK(std::abs(bf16[5] - 3.0e-5f) < 3.0e-5f / 512);
  CHECK(ReadInts(ckpt.at("i64")) == std::vector<int64_t>{1, -2, int64_t{1} << 40});
  CHECK(ckpt.at("scalar").shape.empty());
  CHECK(ReadFloats(ckpt.at("scalar")) == std::vector<float>{7.0f});
  CHECK_THROWS_AS(ReadFloats(ckpt.at("i64")), sims::UserError);
}

TEST_CASE("a sharded checkpoint is one set of tensors across its shards", "[hf]") {
  const Checkpoint ckpt = OpenCheckpoint(kFixtures + "/qwen2");
  // tied Qwen2, 2 layers: embedding + 2 x (q,k,v weight+bias, o, 2 norms, 3 mlp) + final norm
  CHECK(ckpt.tensors.size() == 1 + 2 * 12 + 1);
  CHECK_FALSE(ckpt.has("lm_head.weight"));
  CHECK(ckpt.at("model.embed_tokens.weight").shape == std::vector<int64_t>{512, 32});
  CHECK(ckpt.at("model.layers.1.self_attn.k_proj.bias").shape == std::vector<int64_t>{16});
  std::set<std::string> files;
  for (const auto& [name, t] : ckpt.tensors) files.insert(fs::path(t.file).filename().string());
  CHECK(files.size() == 3);
  CHECK_THROWS_WITH(ckpt.at("nope"), Catch::Contains("nope"));
}

TEST_CASE("broken safetensors files fail with the file and the cause", "[hf]") {
  sims::testing::TempDir dir;
  const std::string bytes = Slurp(kFixtures + "/dtypes.safetensors");
  SECTION("truncated data") {
    WriteText(dir.file("t.safetensors"), bytes.substr(0, bytes.size() - 10));
    CHECK_THROWS_WITH(ReadSafetensorsHeader(dir.file("t.safetensors")),
                      Catch::Contains("t.safetensors") && Catch::Contains("truncated"));
  }
  SECTION("not a safetensors file") {
    WriteText(dir.file("x.safetensors"), "{\"just\": \"json\"}");
    CHECK_THROWS_WITH(ReadSafetensorsHeader(dir.file("x.safetensors")),
                      Catch::Contains("not a safetensors file"));
  }
  SECTION("a shard the index names is missing") {
    fs::create_directories(dir.file("m"));
    fs::copy_file(kFixtures + "/qwen2/model.safetensors.index.json",
                  dir.file("m/model.safetensors.index.json"));
    CHECK_THROWS_WITH(OpenCheckpoint(dir.file("m")),
                      Catch::Contains("missing") && Catch::Contains("model-0000"));
  }
  SECTION("a directory without weights") {
    CHECK_THROWS_WITH(OpenCheckpoint(dir.path().string()), Catch::Contains("hint:"));
  }
}

TEST_CASE("written safetensors read back exactly (f32) or rounded to bf16", "[hf]") {
  sims::testing::TempDir dir;
  const std::vector<float> a = {1.0f, -2.0f, 0.1f, 3.0e-5f, 65504.0f, 1.00390625f};
  const std::vector<float> b = {42.0f};
  const std::vector<TensorToWrite> tensors = {{"a", {2, 3}, a}, {"b.scalar", {}, b}};
  WriteSafetensors(dir.file("f32.safetensors"), tensors, "F32");
  const Checkpoint f32 = ReadSafetensorsHeader(dir.file("f32.safetensors"));
  CHECK(ReadFloats(f32.at("a")) == a);
  CHECK(ReadFloats(f32.at("b.scalar")) == b);
  CHECK(f32.metadata.at("format") == "pt");
  WriteSafetensors(dir.file("bf16.safetensors"), tensors, "BF16");
  const std::vector<float> back = ReadFloats(ReadSafetensorsHeader(dir.file("bf16.safetensors")).at("a"));
  CHECK(back[0] == 1.0f);
  CHECK(back[4] == 65536.0f);
  CHECK(back[5] == 1.0f);  // 1 + 2^-8 is a tie between 1 and 1 + 2^-7: rounds to even
  CHECK(std::abs(back[2] - 0.1f) < 0.1f / 256);
}

TEST_CASE("config.json of Llama and Qwen2 maps onto the decoder shape", "[hf]") {
  const HfModelConfig llama = ReadHfConfig(kFixtures + "/llama");
  CHECK(llama.model_type == "llama");
  CHECK(llama.shape == sims::ModelShape{.layers = 2, .d_model = 32, .heads = 4, .kv_heads = 2,
                                        .d_ff = 64, .vocab_size = 512, .tied_embeddings = false,
                                        .qkv_bias = false});
  CHECK(llama.rope_theta == 500000.0);
  CHECK(llama.rope_scaling.type == "llama3");
  CHECK(llama.rms_norm_eps == 1e-5);
  CHECK(llama.bos_token_id == 0);
  const HfModelConfig qwen = ReadHfConfig(kFixtures + "/qwen2");
  CHECK(qwen.shape.qkv_bias);
  CHECK(qwen.shape.tied_embeddings);
  CHECK(qwen.rope_theta == 1e6);
  CHECK(qwen.rms_norm_eps == 1e-6);
}

TEST_CASE("Hub-style configs (rope_theta, rope_scaling) and unsupported keys", "[hf]") {
  sims::testing::TempDir dir;
  json j = json::parse(Slurp(kFixtures + "/llama/config.json"));
  j.erase("rope_parameters");
  j["rope_theta"] = 10000.0;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 1024}};
  WriteText(dir.file("config.json"), j.dump());
  SECTION("llama3 rope scaling matches transformers' inverse frequencies") {
    // transformers 5.24 ROPE_INIT_FUNCTIONS["llama3"] for this config (fp32):
    // [1, 0.100000001, 0.00308676064, 0.000125000006]; the third is in the smoothed band.
    const std::vector<double> inv = RopeInverseFrequencies(ReadHfConfig(dir.path().string()));
    REQUIRE(inv.size() == 4);
    CHECK(inv[0] == Approx(1.0).epsilon(1e-7));
    CHECK(inv[1] == Approx(0.1).epsilon(1e-7));
    CHECK(inv[2] == Approx(0.00308676064).epsilon(1e-6));  // transformers rounds to fp32
    CHECK(inv[3] == Approx(0.000125).epsilon(1e-7));
  }
  SECTION("each unsupported key is named") {
    auto [key, value] = GENERATE(table<std::string, json>({
        {"model_type", "gpt2"},
        {"hidden_act", "gelu"},
        {"attention_bias", true},
        {"head_dim", 16},
        {"hidden_size", -3},
    }));
    CAPTURE(key);
    j[key] = value;
    WriteText(dir.file("config.json"), j.dump());
    CHECK_THROWS_WITH(ReadHfConfig(dir.path().string()), Catch::Contains(key));
  }
  SECTION("an unsupported rope scaling is named") {
    j["rope_scaling"]["rope_type"] = "yarn";
    WriteText(dir.file("config.json"), j.dump());
    CHECK_THROWS_WITH(ReadHfConfig(dir.path().string()),
                      Catch::Contains("rope_scaling.rope_type") && Catch::Contains("yarn"));
  }
}

TEST_CASE("pre-tokenisation follows the Llama 3 and Qwen2 regexes", "[hf]") {
  using P = std::vector<std::string_view>;
  CHECK(Pretokenize("Hello  world\n\n", PretokenizerPattern::kLlama3) ==
        P{"Hello", " ", " world", "\n\n"});
  CHECK(Pretokenize("I'M 12345!!\n x", PretokenizerPattern::kLlama3) ==
        P{"I", "'M", " ", "123", "45", "!!\n", " x"});
  CHECK(Pretokenize("I'M 12345!!\n x", PretokenizerPattern::kQwen2) ==
        P{"I", "'M", " ", "1", "2", "3", "4", "5", "!!\n", " x"});
  CHECK(Pretokenize("I'M go", PretokenizerPattern::kGpt2) == P{"I", "'", "M", " go"});
  CHECK(Pretokenize("  \t\n  x  ", PretokenizerPattern::kLlama3) == P{"  \t\n", " ", " x", "  "});
  CHECK(Pretokenize("Köln—日本", PretokenizerPattern::kLlama3) == P{"Köln", "—日本"});
}

TEST_CASE("token ids equal the tokenizers library's on a multilingual sample", "[hf]") {
  const json cases = json::parse(Slurp(kFixtures + "/tokenizer_cases.json"));
  for (const std::string name : {"llama3", "qwen2"}) {
    BpeTokenizer tok = BpeTokenizer::Load(kFixtures + "/tokenizer_" + name + ".json");
    CHECK(tok.pattern() == (name == "llama3" ? PretokenizerPattern::kLlama3
                                             : PretokenizerPattern::kQwen2));
    REQUIRE(cases[name].size() >= 15);
    for (const json& c : cases[name]) {
      const std::string text = c["text"].get<std::string>();
      CAPTURE(name, text);
      const std::vector<int32_t> ids = tok.Encode(text);
      CHECK(ids == c["ids"].get<std::vector<int32_t>>());
      CHECK(tok.Decode(ids) == text);  // byte-level BPE is lossless
    }
  }
}

TEST_CASE("special tokens are cut out of text and skipped on request when decoding", "[hf]") {
  BpeTokenizer tok = BpeTokenizer::Load(kFixtures + "/tokenizer_llama3.json");
  const int32_t bos = tok.TokenToId("<|begin_of_text|>");
  REQUIRE(bos >= 0);
  const std::vector<int32_t> ids = tok.Encode("<|begin_of_text|>hi");
  REQUIRE(ids.size() >= 2);
  CHECK(ids[0] == bos);
  CHECK(tok.Decode(ids, /*skip_special=*/true) == "hi");
  CHECK(tok.TokenToId("no such token") == -1);
  CHECK_THROWS_AS(tok.Encode("bad \xff utf8"), sims::UserError);
  CHECK_THROWS_AS(tok.Decode(std::vector<int32_t>{tok.size()}), sims::UserError);
}

TEST_CASE("a tokenizer sims cannot reproduce is refused with the key that differs", "[hf]") {
  json j = json::parse(Slurp(kFixtures + "/tokenizer_llama3.json"));
  SECTION("unknown regex") {
    j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"] = "\\w+";
    CHECK_THROWS_WITH(BpeTokenizer::FromJsonText(j.dump(), "tok.json"),
                      Catch::Contains("tok.json") && Catch::Contains("Regex"));
  }
  SECTION("byte fallback") {
    j["model"]["byte_fallback"] = true;
    CHECK_THROWS_WITH(BpeTokenizer::FromJsonText(j.dump(), "tok.json"),
                      Catch::Contains("byte_fallback"));
  }
  SECTION("another normalizer") {
    j["normalizer"] = {{"type", "Lowercase"}};
    CHECK_THROWS_WITH(BpeTokenizer::FromJsonText(j.dump(), "tok.json"),
                      Catch::Contains("normalizer"));
  }
  SECTION("merges in the old string form load the same") {
    json old = j;
    old["model"]["merges"] = json::array();
    for (const json& m : j["model"]["merges"]) {
      old["model"]["merges"].push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
    }
    BpeTokenizer a = BpeTokenizer::FromJsonText(j.dump(), "new");
    BpeTokenizer b = BpeTokenizer::FromJsonText(old.dump(), "old");
    CHECK(a.Encode("The quick brown fox") == b.Encode("The quick brown fox"));
  }
}

TEST_CASE("a checkpoint's vocabulary appends units and markers after its tokenizer's ids", "[hf]") {
  BpeTokenizer tok = BpeTokenizer::Load(kFixtures + "/tokenizer_llama3.json");
  const sims::corpus::Vocabulary v = CheckpointVocabulary(tok, ReadHfConfig(kFixtures + "/llama"));
  CHECK(v.text_begin == 0);
  CHECK(v.text_count == tok.size());
  CHECK(v.unit_begin == tok.size());  // slamkit's add_tokens ids
  CHECK(v.unit_count == 500);
  CHECK(v.speech_marker == tok.size() + 500);
  CHECK(v.text_marker == tok.size() + 501);
  CHECK(v.vocab_size == 1024);  // 500 + 502 ids, rounded up to 64
  CHECK(v.bos == 0);            // config.json bos_token_id
  CHECK(v.eos == 1);
  CHECK(v.pad == 1);            // no pad_token_id: eos
  CHECK(v.hash.size() == 16);
  SECTION("the extended tokenizer.json encodes slamkit's unit strings at those ids") {
    BpeTokenizer extended = BpeTokenizer::FromJsonText(
        ExtendedTokenizerJson(Slurp(kFixtures + "/tokenizer_llama3.json"), v), "extended");
    std::vector<int32_t> expected = {v.speech_marker, v.Unit(3), v.Unit(499), v.text_marker};
    for (int32_t id : tok.Encode(" hi")) expected.push_back(id);
    CHECK(extended.Encode("<speech><Un3><Un499><text> hi") == expected);
  }
  SECTION("Qwen2's shared bos = eos is accepted") {
    const sims::corpus::Vocabulary q = CheckpointVocabulary(
        BpeTokenizer::Load(kFixtures + "/tokenizer_qwen2.json"), ReadHfConfig(kFixtures + "/qwen2"));
    CHECK(q.bos == q.eos);
  }
}

TEST_CASE("slamkit JSONL and raw text import into the three streams with the checkpoint's ids",
          "[hf]") {
  sims::testing::TempDir dir;
  const std::string ckpt = dir.file("ckpt");
  fs::create_directories(ckpt);
  fs::copy_file(kFixtures + "/llama/config.json", ckpt + "/config.json");
  fs::copy_file(kFixtures + "/tokenizer_llama3.json", ckpt + "/tokenizer.json");
  // 25 Hz: "the" frames [0, 3), "cat" [3, 10), "sat" [10, 15).
  WriteText(dir.file("speech.jsonl"),
            R"({"file_name": "a.flac", "units": [7, 8, 9, 10], "duration": [3, 4, 3, 5], )"
            R"("aligned_text": [["the", 0.0, 0.12], [" cat", 0.12, 0.4], ["sat ", 0.4, 0.6]]})"
            "\n"
            R"({"file_name": "b.flac", "units": [1, 1, 1, 499, 499, 2]})"
            "\n"
            R"({"file_name": "c.flac", "units": [500]})"
            "\n");
  WriteText(dir.file("text.txt"), "The cat sat.\n\n{\"text\": \"Köln 😀\"}\n");
  SpeechImportOptions o;
  o.checkpoint = ckpt;
  o.speech_files = {dir.file("speech.jsonl")};
  o.text_files = {dir.file("text.txt")};
  o.valid_fraction = 0;
  o.test_fraction = 0;
  o.interleave.speech_fraction = 0.5;
  const SpeechImportReport report = ImportSpeechForCheckpoint(o, dir.file("corpus"), false);
  CHECK(report.lines_read == 5);
  REQUIRE(report.problems.size() == 1);
  CHECK_THAT(report.problems[0], Catch::Contains("speech.jsonl:3") && Catch::Contains("500"));

  const sims::corpus::Vocabulary v = sims::corpus::LoadVocabulary(dir.file("corpus"));
  CHECK(v.unit_begin == 500);
  BpeTokenizer tok = BpeTokenizer::Load(ckpt + "/tokenizer.json");
  const auto docs = [&](const std::string& stream) {
    auto r = sims::corpus::ShardReader::Open(
        sims::corpus::StreamShardPath(dir.file("corpus"), "train", stream), v.hash);
    std::vector<std::vector<int32_t>> out;
    for (int64_t i = 0; i < r.document_count(); ++i) out.push_back(r.DocumentTokens(i));
    return out;
  };
  const auto speech = docs("speech");
  REQUIRE(speech.size() == 2);
  CHECK(speech[0] == std::vector<int32_t>{v.bos, v.Unit(7), v.Unit(8), v.Unit(9), v.Unit(10), v.eos});
  CHECK(speech[1] == std::vector<int32_t>{v.bos, v.Unit(1), v.Unit(499), v.Unit(2), v.eos});  // de-duplicated
  const auto text = docs("text");
  REQUIRE(text.size() == 2);
  std::vector<int32_t> expected = {v.bos};
  for (int32_t id : tok.Encode("The cat sat.")) expected.push_back(id);
  expected.push_back(v.eos);
  CHECK(text[0] == expected);
  CHECK(tok.Decode(std::vector<int32_t>(text[1].begin() + 1, text[1].end() - 1)) == "Köln 😀");
  const auto inter = docs("interleaved");
  REQUIRE(inter.size() == 1);  // only a.flac has an alignment
  const std::vector<int32_t>& d = inter[0];
  CHECK(d.front() == v.bos);
  CHECK(d.back() == v.eos);
  CHECK((d[1] == v.speech_marker || d[1] == v.text_marker));
  std::string words;
  int64_t units = 0;
  for (size_t i = 2; i + 1 < d.size(); ++i) {
    if (v.IsUnit(d[i])) ++units;
    else if (d[i] != v.speech_marker && d[i] != v.text_marker) words += tok.Decode(std::vector<int32_t>{d[i]});
  }
  CHECK(units > 0);  // half of 3 words spoken: at least one word as units
  CHECK((words == "" || words == "the" || words == " cat" || words == " sat" ||
         words == "the cat" || words == " cat sat" || words == "the sat"));
  SECTION("importing again into the same directory needs overwrite") {
    CHECK_THROWS_WITH(ImportSpeechForCheckpoint(o, dir.file("corpus"), false),
                      Catch::Contains("--overwrite"));
  }
  SECTION("strict mode fails on the malformed line") {
    o.strict = true;
    CHECK_THROWS_WITH(ImportSpeechForCheckpoint(o, dir.file("corpus2"), false),
                      Catch::Contains("speech.jsonl:3"));
    CHECK_FALSE(fs::exists(dir.file("corpus2")));
  }
}

TEST_CASE("an import-speech corpus is described like a generated one, and a speech line needs a "
          "file_name",
          "[hf]") {
  sims::testing::TempDir dir;
  const std::string ckpt = dir.file("ckpt");
  fs::create_directories(ckpt);
  fs::copy_file(kFixtures + "/llama/config.json", ckpt + "/config.json");
  fs::copy_file(kFixtures + "/tokenizer_llama3.json", ckpt + "/tokenizer.json");
  // a.flac: 4 units over 15 frames, 3 words; b.flac: 6 frames de-duplicated to 3 units, no
  // words; the third line has no file_name and is skipped, as `sims corpus import` skips it.
  WriteText(dir.file("speech.jsonl"),
            R"({"file_name": "a.flac", "units": [7, 8, 9, 10], "duration": [3, 4, 3, 5], )"
            R"("aligned_text": [["the", 0.0, 0.12], ["cat", 0.12, 0.4], ["sat", 0.4, 0.6]]})"
            "\n"
            R"({"file_name": "b.flac", "units": [1, 1, 1, 499, 499, 2]})"
            "\n"
            R"({"units": [3, 4]})"
            "\n");
  SpeechImportOptions o;
  o.checkpoint = ckpt;
  o.speech_files = {dir.file("speech.jsonl")};
  o.valid_fraction = 0;
  o.test_fraction = 0;
  const SpeechImportReport report = ImportSpeechForCheckpoint(o, dir.file("corpus"), false);
  CHECK(report.lines_read == 3);
  CHECK(report.lines_skipped == 1);
  REQUIRE(report.problems.size() == 1);
  CHECK_THAT(report.problems[0],
             Catch::Contains("speech.jsonl:3") && Catch::Contains("missing \"file_name\""));

  const sims::corpus::CorpusSummary s = sims::corpus::SummarizeCorpus(dir.file("corpus"));
  CHECK(s.manifest["format"] == "sims-corpus");
  CHECK(s.manifest["source"] == "import-speech");
  CHECK(s.speech_tokens_per_word == Approx(7.0 / 3));  // 4 + 3 units, 3 words
  CHECK(s.dedup_ratio == Approx(21.0 / 7));             // 15 + 6 frames, 7 units
  bool seen_speech = false;
  for (const sims::corpus::ShardSummary& sh : s.shards) {
    if (sh.split != "train" || sh.stream != "speech") continue;
    seen_speech = true;
    CHECK(sh.tokens == 7 + 2 * 2);  // the units and each document's BOS and EOS
    CHECK(sh.unit_tokens == 7);
    CHECK(sh.text_tokens == 0);     // the Llama BOS/EOS ids 0 and 1 are text ids, not text
    CHECK(sh.marker_tokens == 0);
  }
  CHECK(seen_speech);

  SECTION("under --strict the line without a file_name fails the import") {
    o.strict = true;
    CHECK_THROWS_WITH(ImportSpeechForCheckpoint(o, dir.file("corpus2"), false),
                      Catch::Contains("speech.jsonl:3") && Catch::Contains("file_name"));
  }
}

TEST_CASE("speech import refuses times and durations that overflow a frame index", "[hf]") {
  sims::testing::TempDir dir;
  const std::string ckpt = dir.file("ckpt");
  fs::create_directories(ckpt);
  fs::copy_file(kFixtures + "/llama/config.json", ckpt + "/config.json");
  fs::copy_file(kFixtures + "/tokenizer_llama3.json", ckpt + "/tokenizer.json");
  SpeechImportOptions o;
  o.checkpoint = ckpt;
  o.speech_files = {dir.file("speech.jsonl")};
  o.strict = true;
  const auto import_line = [&](const std::string& line) {
    WriteText(dir.file("speech.jsonl"), line + "\n");
    return ImportSpeechForCheckpoint(o, dir.file("corpus"), true);
  };
  // 1e8 s at 25 Hz is 2.5e9 frames: as an int32 it wrapped negative, passed the bounds and
  // the interleaver read past the units (a segfault).
  CHECK_THROWS_WITH(import_line(R"({"file_name": "a", "units": [1, 2], )"
                                R"("aligned_text": [["hi", 0, 1e8]]})"),
                    Catch::Contains("speech.jsonl:1: alignment of 'hi'"));
  // 4294967290 = 2^32 - 6 became -6 frames.
  CHECK_THROWS_WITH(
      import_line(R"({"file_name": "a", "units": [1, 2], "duration": [1, 4294967290]})"),
      Catch::Contains("speech.jsonl:1: duration 4294967290 is not a positive integer"));
  CHECK_THROWS_WITH(
      import_line(R"({"file_name": "a", "units": [1, 2], "duration": [2000000000, 2000000000]})"),
      Catch::Contains("speech.jsonl:1: \"duration\" adds up to more than"));
  o.valid_fraction = std::nan("");
  CHECK_THROWS_WITH(o.Validate(), Catch::Contains("valid_fraction nan"));
  CHECK_FALSE(fs::exists(dir.file("corpus")));
}

TEST_CASE("token ids equal the tokenizers library's on 150 seeded random strings", "[hf]") {
  // Random mixes of scripts, digits, combining marks, whitespace runs, apostrophes, emoji and
  // added tokens (make_fixtures.py, make_fuzz_cases): the corner cases of the regex matcher.
  const json fuzz = json::parse(Slurp(kFixtures + "/tokenizer_fuzz.json"));
  const std::vector<std::string> texts = fuzz["texts"].get<std::vector<std::string>>();
  REQUIRE(texts.size() == 150);
  for (const std::string name : {"llama3", "qwen2"}) {
    BpeTokenizer tok = BpeTokenizer::Load(kFixtures + "/tokenizer_" + name + ".json");
    int mismatches = 0;
    for (size_t i = 0; i < texts.size(); ++i) {
      if (tok.Encode(texts[i]) != fuzz[name][i].get<std::vector<int32_t>>()) {
        UNSCOPED_INFO(name << ": " << texts[i]);
        ++mismatches;
      }
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("sims import-speech writes a corpus and names a missing tokenizer", "[hf]") {
  sims::testing::TempDir dir;
  const std::string ckpt = dir.file("ckpt");
  fs::create_directories(ckpt);
  fs::copy_file(kFixtures + "/qwen2/config.json", ckpt + "/config.json");
  WriteText(dir.file("text.txt"), "Hello world.\nSecond line.\n");
  const std::string base = fmt::format("{} import-speech --checkpoint {} --text {} --out {} 2>{}",
                                       SIMS_BINARY, ckpt, dir.file("text.txt"),
                                       dir.file("corpus"), dir.file("err"));
  CHECK(WEXITSTATUS(std::system(base.c_str())) == 1);  // a user error: exit 1
  CHECK_THAT(Slurp(dir.file("err")), Catch::Contains("tokenizer.json"));
  fs::copy_file(kFixtures + "/tokenizer_qwen2.json", ckpt + "/tokenizer.json");
  REQUIRE(WEXITSTATUS(std::system(base.c_str())) == 0);
  const sims::corpus::Vocabulary v = sims::corpus::LoadVocabulary(dir.file("corpus"));
  CHECK(v.speech_marker == v.text_count + 500);
}
