#include "trainer/corpus/vocab.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/checked.h"
#include "common/error.h"
#include "common/sha256.h"
#include "trainer/corpus/atomic_file.h"

namespace sims::corpus {
namespace {

constexpr int kVocabVersion = 1;

std::string VocabPath(const std::string& corpus_dir) {
  return (std::filesystem::path(corpus_dir) / "vocab.json").string();
}

}  // namespace

int32_t Vocabulary::used_size() const {
  return std::max({pad, bos, eos, speech_marker, text_marker, unit_begin + unit_count - 1,
                   text_begin + text_count - 1}) +
         1;
}

Vocabulary MakeSyntheticVocabulary(std::vector<std::string> text_tokens, int32_t unit_count,
                                   int32_t min_vocab_size) {
  Vocabulary v;
  v.unit_count = unit_count;
  v.text_begin = v.unit_begin + unit_count;
  v.text_count = static_cast<int32_t>(text_tokens.size());
  v.text_tokens = std::move(text_tokens);
  const int32_t used = v.used_size();
  if (min_vocab_size != 0) {
    if (min_vocab_size < used || min_vocab_size % 64 != 0) {
      throw UserError(fmt::format(
          "vocab_size = {} cannot hold this corpus: it uses {} ids (5 specials, {} units, {} "
          "text tokens) and vocab_size must be a multiple of 64; hint: use vocab_size = {} or "
          "shrink the lexicon",
          min_vocab_size, used, unit_count, v.text_count, (used + 63) / 64 * 64));
    }
    v.vocab_size = min_vocab_size;
  } else {
    v.vocab_size = (used + 63) / 64 * 64;
  }
  FinalizeVocabulary(v);
  return v;
}

std::vector<std::string> CanonicalTokenList(const Vocabulary& v) {
  std::vector<std::string> names(static_cast<size_t>(v.used_size()), "<unused>");
  auto set = [&](int32_t id, std::string name) {
    if (id >= 0 && id < static_cast<int32_t>(names.size())) names[id] = std::move(name);
  };
  set(v.pad, "<pad>");
  set(v.bos, "<bos>");
  set(v.eos, "<eos>");
  set(v.speech_marker, "<speech>");
  set(v.text_marker, "<text>");
  for (int32_t k = 0; k < v.unit_count; ++k) set(v.Unit(k), fmt::format("<u{}>", k));
  for (int32_t j = 0; j < v.text_count && j < static_cast<int32_t>(v.text_tokens.size()); ++j) {
    set(v.Text(j), v.text_tokens[j]);
  }
  return names;
}

void FinalizeVocabulary(Vocabulary& v) {
  if (static_cast<int32_t>(v.text_tokens.size()) != v.text_count) {
    throw UserError(fmt::format("vocabulary: text_count = {} but {} text tokens are listed",
                                v.text_count, v.text_tokens.size()));
  }
  if (v.vocab_size <= 0 || v.vocab_size % 64 != 0 || v.vocab_size < v.used_size()) {
    throw UserError(fmt::format(
        "vocabulary: vocab_size = {} must be a positive multiple of 64 and >= {} (ids in use)",
        v.vocab_size, v.used_size()));
  }
  // Every id is claimed at most once: specials, units and text ranges are disjoint.
  std::vector<int> owner(static_cast<size_t>(v.used_size()), 0);
  auto claim = [&](int32_t begin, int32_t count, const char* what) {
    for (int32_t id = begin; id < begin + count; ++id) {
      if (id < 0 || owner[id]++ != 0) {
        throw UserError(fmt::format("vocabulary: id {} ({}) overlaps another token", id, what));
      }
    }
  };
  // A Hugging Face checkpoint's pad/bos/eos are tokens of its own text vocabulary (docs/corpus.md "File formats":
  // its text ids come first), and may coincide (Qwen2.5 uses <|endoftext|> for all three): such
  // a special claims no id of its own. Elsewhere each special needs a distinct id.
  std::vector<int32_t> own_specials;
  for (auto [id, what] : std::initializer_list<std::pair<int32_t, const char*>>{
           {v.pad, "pad"}, {v.bos, "bos"}, {v.eos, "eos"}}) {
    if (v.IsText(id)) continue;
    if (std::find(own_specials.begin(), own_specials.end(), id) != own_specials.end()) continue;
    own_specials.push_back(id);
    claim(id, 1, what);
  }
  claim(v.speech_marker, 1, "speech_marker");
  claim(v.text_marker, 1, "text_marker");
  claim(v.unit_begin, v.unit_count, "units");
  claim(v.text_begin, v.text_count, "text");
  std::string joined;
  for (const std::string& name : CanonicalTokenList(v)) {
    joined += name;
    joined += '\n';
  }
  v.hash = Sha256Hex(joined).substr(0, 16);
}

void SaveVocabulary(const Vocabulary& v, const std::string& corpus_dir) {
  nlohmann::json j;
  j["format"] = "sims-vocab";
  j["version"] = kVocabVersion;
  j["pad"] = v.pad;
  j["bos"] = v.bos;
  j["eos"] = v.eos;
  j["speech_marker"] = v.speech_marker;
  j["text_marker"] = v.text_marker;
  j["unit_begin"] = v.unit_begin;
  j["unit_count"] = v.unit_count;
  j["text_begin"] = v.text_begin;
  j["text_count"] = v.text_count;
  j["vocab_size"] = v.vocab_size;
  j["hash"] = v.hash;
  j["text_tokens"] = v.text_tokens;
  WriteFileAtomically(VocabPath(corpus_dir), j.dump(1) + "\n");
}

Vocabulary LoadVocabulary(const std::string& corpus_dir) {
  const std::string path = VocabPath(corpus_dir);
  if (!std::filesystem::exists(path)) {
    throw UserError(fmt::format(
        "{} does not exist: {} is not a sims corpus; hint: sims corpus generate --out {}", path,
        corpus_dir, corpus_dir));
  }
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(ReadWholeFile(path));
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
  Vocabulary v;
  std::string stored;  // the hash the file claims
  try {
    if (j.value("format", "") != "sims-vocab") {
      throw UserError(fmt::format("{}: \"format\" is not \"sims-vocab\"", path));
    }
    if (j.at("version").get<int>() != kVocabVersion) {
      throw UserError(fmt::format("{}: version {} is not supported (this build reads {})", path,
                                  j.at("version").get<int>(), kVocabVersion));
    }
    const auto id = [&](const char* key) {  // checked: a json -> int32 conversion wraps
      const std::optional<int32_t> value = CheckedJsonInteger<int32_t>(j.at(key));
      if (!value) {
        throw UserError(fmt::format("{}: {} = {} must be an integer in {}", path, key,
                                    j.at(key).dump(), RangeText<int32_t>()));
      }
      return *value;
    };
    v.pad = id("pad");
    v.bos = id("bos");
    v.eos = id("eos");
    v.speech_marker = id("speech_marker");
    v.text_marker = id("text_marker");
    v.unit_begin = id("unit_begin");
    v.unit_count = id("unit_count");
    v.text_begin = id("text_begin");
    v.text_count = id("text_count");
    v.vocab_size = id("vocab_size");
    v.text_tokens = j.at("text_tokens").get<std::vector<std::string>>();
    stored = j.value("hash", "");
  } catch (const nlohmann::json::exception& e) {
    throw UserError(fmt::format("{}: missing or mistyped field: {}", path, e.what()));
  }
  try {
    FinalizeVocabulary(v);
  } catch (const UserError& e) {
    throw UserError(fmt::format("{}: {}", path, e.what()));
  }
  if (stored != v.hash) {
    throw UserError(fmt::format(
        "{}: stored hash {} does not match its token list (hash {}); the file was edited",
        path, stored, v.hash));
  }
  return v;
}

}  // namespace sims::corpus
