#include "trainer/hf/speech_vocab.h"

#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/error.h"

namespace sims::hf {

std::string UnitTokenName(int32_t unit) { return fmt::format("<Un{}>", unit); }

corpus::Vocabulary CheckpointVocabulary(const BpeTokenizer& tokenizer, const HfModelConfig& config,
                                        int32_t unit_count) {
  if (config.eos_token_id < 0) {
    throw UserError("config.json: eos_token_id is missing; sims ends every document with it");
  }
  const int32_t text_count = tokenizer.size();
  if (text_count > config.shape.vocab_size) {
    throw UserError(fmt::format("the tokenizer has {} tokens but the checkpoint's vocab_size is "
                                "{}; hint: pass the tokenizer.json of the same checkpoint",
                                text_count, config.shape.vocab_size));
  }
  corpus::Vocabulary v;
  v.eos = static_cast<int32_t>(config.eos_token_id);
  v.bos = config.bos_token_id >= 0 ? static_cast<int32_t>(config.bos_token_id) : v.eos;
  v.pad = config.pad_token_id >= 0 ? static_cast<int32_t>(config.pad_token_id) : v.eos;
  v.text_begin = 0;
  v.text_count = text_count;
  v.text_tokens.reserve(text_count);
  for (int32_t id = 0; id < text_count; ++id) v.text_tokens.push_back(tokenizer.IdToToken(id));
  v.unit_begin = text_count;
  v.unit_count = unit_count;
  v.speech_marker = text_count + unit_count;
  v.text_marker = text_count + unit_count + 1;
  const int64_t rows = std::max<int64_t>(config.shape.vocab_size, v.text_marker + 1);
  v.vocab_size = static_cast<int32_t>((rows + 63) / 64 * 64);
  corpus::FinalizeVocabulary(v);
  return v;
}

std::string ExtendedTokenizerJson(const std::string& text, const corpus::Vocabulary& vocab) {
  nlohmann::json doc = nlohmann::json::parse(text);
  const auto add = [&](int32_t id, const std::string& content) {
    doc["added_tokens"].push_back({{"id", id},
                                   {"content", content},
                                   {"single_word", false},
                                   {"lstrip", false},
                                   {"rstrip", false},
                                   {"normalized", false},
                                   {"special", false}});
  };
  for (int32_t k = 0; k < vocab.unit_count; ++k) add(vocab.Unit(k), UnitTokenName(k));
  add(vocab.speech_marker, "<speech>");
  add(vocab.text_marker, "<text>");
  return doc.dump(2);
}

}  // namespace sims::hf
