#include "tests/fuzz_corpus_inputs.h"

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "common/error.h"
#include "tests/test_support.h"
#include "trainer/corpus/generate.h"
#include "trainer/corpus/import.h"
#include "trainer/corpus/info.h"
#include "trainer/hf/safetensors.h"
#include "trainer/hf/tokenizer.h"

namespace sims::fuzz {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// Values that break assumptions where a number or a string was: wrap-arounds of int32/int64/
// uint64, non-finite and out-of-range floats, and values of another JSON/TOML type.
const std::vector<std::string> kNasty = {
    "0", "-1", "1.5", "4294967304", "4294967290", "2147483648", "-2147483649",
    "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "99999999999999999999999999", "1e8", "1e308", "1e400", "-1e400", "nan", "NaN", "inf",
    "-inf", "\"x\"", "\"\"", "true", "null", "[]", "{}", "[[]]", "{\"a\": 1}", "[1e400]",
    "\"\\u0000\"", "\"F32\"", "\"I64\""};

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}
  size_t Pick(size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng_() % n); }

  std::string Mutate(std::string text, bool length_prefixed) {
    const int edits = 1 + static_cast<int>(Pick(3));
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = Pick(text.size());
      switch (Pick(length_prefixed ? 9 : 8)) {
        case 0:  // flip a byte
          text[at] = static_cast<char>(rng_() & 0xff);
          break;
        case 1:  // truncate
          text.resize(at);
          break;
        case 2:  // delete a chunk
          text.erase(at, 1 + Pick(16));
          break;
        case 3:  // duplicate a chunk
          text.insert(at, text.substr(at, 1 + Pick(32)));
          break;
        case 4:    // replace a number with a nasty value
        case 5: {  // (twice as likely: numbers are where the wrap-arounds were)
          const size_t begin = text.find_first_of("0123456789", at);
          if (begin == std::string::npos) break;
          const size_t end = text.find_first_not_of("0123456789.eE+-_", begin);
          text.replace(begin, (end == std::string::npos ? text.size() : end) - begin,
                       kNasty[Pick(kNasty.size())]);
          break;
        }
        case 6: {  // replace a quoted string with a nasty value (type confusion)
          const size_t begin = text.find('"', at);
          const size_t end = begin == std::string::npos ? begin : text.find('"', begin + 1);
          if (end == std::string::npos) break;
          text.replace(begin, end - begin + 1, kNasty[Pick(kNasty.size())]);
          break;
        }
        case 7:  // insert a nasty value
          text.insert(at, kNasty[Pick(kNasty.size())]);
          break;
        default: {  // safetensors: a header length that lies
          const uint64_t size = text.size();
          const uint64_t lengths[] = {0, 1, 2, size - 8, size - 7, size, 1ull << 32, 1ull << 63,
                                      ~0ull, 100'000'001};
          const uint64_t n = lengths[Pick(std::size(lengths))];
          if (text.size() >= 8) std::memcpy(text.data(), &n, 8);  // little-endian hosts
          break;
        }
      }
    }
    return text;
  }

 private:
  std::mt19937_64 rng_;
};

struct Target {
  std::vector<std::string> examples;  // valid inputs to mutate
  std::string input;                  // where a case's input is written
  bool length_prefixed = false;       // safetensors: mutate the u64 header length too
  // Reads `input`; returns problems a lenient reader reported instead of throwing (each must
  // name the file too).
  std::function<std::vector<std::string>(int case_index)> read;
};

Target MakeTarget(const std::string& name, const std::string& source, const fs::path& scratch) {
  Target t;
  if (name == "corpus-toml") {
    t.examples = {ReadBytes(source + "/examples/demo-corpus.toml")};
    t.input = (scratch / "corpus.toml").string();
    t.read = [input = t.input](int) {
      corpus::LoadCorpusConfig(input);
      return std::vector<std::string>{};
    };
  } else if (name == "corpus-json") {
    // A tiny real corpus whose corpus.json is replaced by each case.
    corpus::CorpusConfig config;
    config.size.train_tokens = 2000;
    config.size.valid_tokens = 300;
    config.size.test_tokens = 300;
    config.size.eval_pairs = 3;
    const std::string dir = (scratch / "corpus").string();
    corpus::GenerateCorpus(config, dir, 1, false);
    t.input = (scratch / "corpus" / "corpus.json").string();
    t.examples = {ReadBytes(t.input)};
    t.read = [dir](int) {
      corpus::SummarizeCorpus(dir);
      return std::vector<std::string>{};
    };
  } else if (name == "slamkit-jsonl") {
    const std::string data = source + "/tests/data/slamkit/";
    t.examples = {ReadBytes(data + "speech.jsonl"), ReadBytes(data + "malformed.jsonl")};
    t.input = (scratch / "speech.jsonl").string();
    t.read = [input = t.input, data, out = (scratch / "out").string()](int index) {
      corpus::ImportOptions o;
      o.speech_files = {input};
      o.text_files = {data + "text.jsonl"};
      o.strict = index % 2 == 0;  // every other case lenient: problems instead of an error
      return corpus::ImportCorpus(o, out, true).problems;
    };
  } else if (name == "safetensors") {
    t.examples = {ReadBytes(source + "/tests/fixtures/hf/dtypes.safetensors")};
    t.input = (scratch / "model.safetensors").string();
    t.length_prefixed = true;
    t.read = [input = t.input](int) {
      const hf::Checkpoint checkpoint = hf::ReadSafetensorsHeader(input);
      for (const auto& [tensor_name, tensor] : checkpoint.tensors) {
        if (tensor.dtype.starts_with("F") || tensor.dtype == "BF16") {
          hf::ReadFloats(tensor);
        } else {
          hf::ReadInts(tensor);
        }
      }
      return std::vector<std::string>{};
    };
  } else if (name == "tokenizer-json") {
    t.examples = {ReadBytes(source + "/tests/fixtures/hf/tokenizer_llama3.json"),
                  ReadBytes(source + "/tests/fixtures/hf/tokenizer_qwen2.json")};
    t.input = (scratch / "tokenizer.json").string();
    t.read = [input = t.input](int) {
      hf::BpeTokenizer tokenizer = hf::BpeTokenizer::Load(input);
      tokenizer.Decode(tokenizer.Encode("The cat's 123 naïve 😀 <|pad|> words\n"));
      return std::vector<std::string>{};
    };
  } else {
    throw UserError(fmt::format("fuzz: unknown target {}; known: corpus-toml, corpus-json, "
                                "slamkit-jsonl, safetensors, tokenizer-json",
                                name));
  }
  return t;
}

}  // namespace

std::vector<std::string> Targets() {
  return {"corpus-toml", "corpus-json", "slamkit-jsonl", "safetensors", "tokenizer-json"};
}

Tally Run(const std::string& target, const std::string& source_dir, int cases, uint64_t seed) {
  sims::testing::TempDir scratch;
  const Target t = MakeTarget(target, source_dir, scratch.path());
  Tally tally;
  tally.target = target;
  Mutator mutator(seed);
  const auto started = std::chrono::steady_clock::now();
  for (int i = 0; i < cases; ++i) {
    const std::string input = mutator.Mutate(t.examples[i % t.examples.size()], t.length_prefixed);
    WriteBytes(t.input, input);
    std::string broken;
    try {
      for (const std::string& problem : t.read(i)) {
        if (!problem.starts_with(t.input + ":")) broken = "a problem without the file: " + problem;
      }
      ++tally.accepted;
    } catch (const UserError& e) {
      const std::string message = e.what();
      if (message.find(t.input) == std::string::npos) {
        broken = "a UserError without the file: " + message;
      } else {
        ++tally.refused;
      }
    } catch (const std::exception& e) {
      broken = fmt::format("not a UserError (exit 2): {}", e.what());
    }
    if (ReadBytes(t.input) != input) {
      broken += std::string(broken.empty() ? "" : "; ") + "the input changed";
    }
    if (!broken.empty()) {
      ++tally.failure_count;
      if (tally.failures.size() < 5) {
        tally.failures.push_back(fmt::format("case {}: {}\n{}", i, broken, input.substr(0, 2000)));
      }
    }
    ++tally.cases;
  }
  tally.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return tally;
}

}  // namespace sims::fuzz
