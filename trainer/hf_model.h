#pragma once
// Hugging Face Llama / Qwen2 checkpoints <-> the sims decoder (torch; library sims_trainer).
// Call LoadHfModel(dir, vocab_size) to start a run from a checkpoint, ExportHfModel to hand a
// trained model back to transformers. The torch-free pieces (safetensors, config.json,
// tokenizer, the extended vocabulary) are in trainer/hf/ (sims_hf_io).
//
// Weights map by name: Hugging Face `model.<name>` is the decoder's `<name>` (see
// trainer/model.h) and `lm_head.weight` is `lm_head.weight`. A tied checkpoint has no
// lm_head.weight. bf16/f16 checkpoints are widened exactly to fp32 on load.
//
// Vocabulary extension (the paper: 500 speech units + <speech> + <text> appended after the
// checkpoint's rows): build the decoder with a larger vocab_size; rows [0, V_checkpoint) are the
// checkpoint's, the rest are left for the caller, who initialises the used ones with
// trainer::InitUntrainedRows (mean of the trained rows + 0.1 sd noise; documented in
// trainer/checkpoint.h and docs/real-models.md). Logits of old tokens are unchanged by it.
// Parity: logits equal transformers' within 1e-4 in fp32 (tests/test_hf_model.cpp).
#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "trainer/corpus/vocab.h"
#include "trainer/hf/hf_config.h"
#include "trainer/model.h"

namespace sims::hf {

// Options that reproduce the checkpoint's forward pass: its shape with vocab_size raised to
// `vocab_size` (0 = keep the checkpoint's; smaller than the checkpoint's is a UserError), its
// rope theta and scaling, its RMSNorm epsilon.
trainer::DecoderOptions DecoderOptionsFor(const HfModelConfig& config, int64_t vocab_size = 0);

// Copies every tensor of the checkpoint in `dir` into `model`, which must be built from
// DecoderOptionsFor(config, ...). UserError naming the tensor when one is missing, has another
// shape, or is left over (a weight the decoder has no place for, e.g. o_proj.bias).
void LoadHfWeights(const std::string& dir, const HfModelConfig& config,
                   trainer::DecoderImpl& model);

// ReadHfConfig + DecoderOptionsFor + MakeDecoder + LoadHfWeights. Rows beyond the checkpoint's
// vocabulary keep MakeDecoder's random init until the caller sets them.
trainer::Decoder LoadHfModel(const std::string& dir, int64_t vocab_size = 0,
                             const torch::Device& device = torch::kCPU);

// For a run with init.kind = "checkpoint" (trainer/train.cpp): the checkpoint's options for the
// run's planned shape, which must equal the checkpoint's except for a vocab_size at least as
// large (UserError naming the run, the field and both values otherwise).
trainer::DecoderOptions CheckpointRunOptions(const std::string& run_id,
                                             const std::string& checkpoint_dir,
                                             const ModelShape& shape);
// Loads the checkpoint's weights into `model` (built from CheckpointRunOptions) and initialises
// the unit and marker rows of the embedding and head with trainer::InitUntrainedRows.
void InitFromCheckpoint(const std::string& checkpoint_dir, const corpus::Vocabulary& vocab,
                        trainer::DecoderImpl& model, uint64_t seed);

// A config.json base for a decoder sims trained from scratch: qwen2 when it has q/k/v biases,
// llama otherwise; rope theta and epsilon from the options.
HfModelConfig HfConfigForDecoder(const trainer::DecoderOptions& options);

// Writes `out_dir`/model.safetensors (dtype "float32" or "bfloat16") and config.json (the base
// config with the model's shape). Tied models store no lm_head.weight, as transformers does.
void ExportHfModel(trainer::DecoderImpl& model, const HfModelConfig& base,
                   const std::string& out_dir, const std::string& dtype = "float32");

}  // namespace sims::hf
