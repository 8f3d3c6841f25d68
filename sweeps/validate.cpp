#include "sweeps/validate.h"

#include <fmt/format.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "common/files.h"
#include "sweeps/parse.h"

namespace sims {
namespace {

namespace fs = std::filesystem;

// The file parsed as JSON, or a discarded value when it is not JSON (the callers say so).
nlohmann::json ReadJsonObject(const std::string& path) {
  return nlohmann::json::parse(ReadWholeFile(path), nullptr, /*allow_exceptions=*/false);
}

bool IsDirectory(const std::string& path) {
  std::error_code ec;  // an unreadable or over-long path is "does not exist" too
  return fs::is_directory(path, ec);
}

// A checkpoint directory with a Hugging Face config.json must have the shape the sweep file
// says, or the trainer would fail (or, worse, load a different model) hours later. The
// vocabulary is not compared: sims extends it with the speech units.
void CheckCheckpointConfig(const SizeSpec& size) {
  const Origin& where = size.checkpoint_origin;
  const fs::path config = fs::path(size.checkpoint) / "config.json";
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return;  // an empty fixture, or a non-HF layout
  const nlohmann::json j = ReadJsonObject(config.string());
  if (!j.is_object()) {
    throw UserError(where.Where() + ": " + config.string() + " is not a JSON object");
  }
  const ModelShape& s = size.shape;
  const std::pair<const char*, int64_t> fields[] = {{"num_hidden_layers", s.layers},
                                                    {"hidden_size", s.d_model},
                                                    {"num_attention_heads", s.heads},
                                                    {"num_key_value_heads", s.kv_heads},
                                                    {"intermediate_size", s.d_ff}};
  for (const auto& [key, expected] : fields) {
    if (!j.contains(key) || !j[key].is_number_integer()) continue;
    if (j[key].get<int64_t>() != expected) {
      throw UserError(
          fmt::format("{}: the checkpoint's {} has {} = {}, the sweep file's shape "
                      "{} (hint: copy the shape from config.json)",
                      where.Where(), config.string(), key, j[key].get<int64_t>(), expected));
    }
  }
  if (j.contains("tie_word_embeddings") && j["tie_word_embeddings"].is_boolean() &&
      j["tie_word_embeddings"].get<bool>() != s.tied_embeddings) {
    throw UserError(fmt::format(
        "{}: the checkpoint's {} has tie_word_embeddings = {}, the sweep "
        "file's shape tied_embeddings = {}",
        where.Where(), config.string(), j["tie_word_embeddings"].get<bool>(), s.tied_embeddings));
  }
}

// A corpus that exists already must agree on the vocabulary size.
void CheckCorpusVocabulary(const SweepSpec& spec) {
  const fs::path vocab_json = fs::path(spec.corpus) / "vocab.json";
  std::error_code ec;
  if (!fs::is_regular_file(vocab_json, ec)) return;
  const nlohmann::json v = ReadJsonObject(vocab_json.string());
  if (v.is_object() && v.contains("vocab_size") && v["vocab_size"].is_number_integer() &&
      v["vocab_size"].get<int64_t>() != spec.vocab_size) {
    throw UserError(fmt::format("{}: {} differs from the corpus' vocab_size {} in {}",
                                spec.vocab_origin.Where(), spec.vocab_size,
                                v["vocab_size"].get<int64_t>(), vocab_json.string()));
  }
}

}  // namespace

std::vector<std::string> MissingCheckpoints(const SweepSpec& spec) {
  std::vector<std::string> missing;
  for (const ConditionSpec& c : spec.conditions) {
    for (const SizeSpec& size : c.design.sizes) {
      if (c.init != InitKind::kCheckpoint || IsDirectory(size.checkpoint)) continue;
      missing.push_back(size.checkpoint_origin.Where() + ": checkpoint directory '" +
                        size.checkpoint +
                        "' does not exist (hint: download the Hugging Face model there, e.g. "
                        "`huggingface-cli download Qwen/Qwen2.5-0.5B --local-dir DIR`; relative "
                        "paths are resolved against the sweep file's directory)");
    }
  }
  return missing;
}

void CheckExistingFiles(const SweepSpec& spec) {
  CheckCorpusVocabulary(spec);
  for (const ConditionSpec& c : spec.conditions) {
    if (c.init != InitKind::kCheckpoint) continue;
    for (const SizeSpec& size : c.design.sizes) {
      if (IsDirectory(size.checkpoint)) CheckCheckpointConfig(size);
    }
  }
}

void CheckSweepFiles(const SweepSpec& spec) {
  const std::vector<std::string> missing = MissingCheckpoints(spec);
  if (!missing.empty()) throw UserError(missing.front());
  CheckExistingFiles(spec);
}

SweepSpec LoadSweepFile(const std::string& path, const std::string& corpus_override) {
  SweepSpec spec = ParseSweep(ReadSweepFile(path), path, corpus_override);
  CheckSweepFiles(spec);
  return spec;
}

}  // namespace sims
