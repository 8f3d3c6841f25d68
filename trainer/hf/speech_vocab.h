#pragma once
// The sims vocabulary of a Hugging Face checkpoint extended for speech (torch-free, sims_hf_io).
// Call CheckpointVocabulary(tokenizer, config); write it with corpus::SaveVocabulary.
//
// Layout (docs/corpus.md "File formats"; the same ids as slamkit's `tokeniser.add_tokens`, so exported models
// read slamkit's "<Un12><Un7>..." strings): text ids are the tokenizer's, [0, len(tokenizer));
// units <Un0>..<Un{n-1}> follow at len(tokenizer), then <speech>, then <text>; vocab_size is
// the larger of the checkpoint's embedding rows and the ids in use, rounded up to a multiple of
// 64. Checkpoint rows in [len(tokenizer), V_checkpoint) were never trained (Qwen2.5 pads its
// matrix), so units may take them. pad/bos/eos are config.json's ids (a missing bos or pad
// falls back to eos; no eos at all is a UserError naming eos_token_id).
#include <cstdint>
#include <string>

#include "trainer/corpus/vocab.h"
#include "trainer/hf/hf_config.h"
#include "trainer/hf/tokenizer.h"

namespace sims::hf {

corpus::Vocabulary CheckpointVocabulary(const BpeTokenizer& tokenizer, const HfModelConfig& config,
                                        int32_t unit_count = 500);

// tokenizer.json text with the units and markers of `vocab` added as (non-special) added tokens
// at their ids, for an exported model directory.
std::string ExtendedTokenizerJson(const std::string& tokenizer_json_text,
                                  const corpus::Vocabulary& vocab);

// "<Un17>" (slamkit's unit token names).
std::string UnitTokenName(int32_t unit);

}  // namespace sims::hf
