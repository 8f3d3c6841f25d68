#pragma once
// Writing Hugging Face model directories, behind a torch-free header so that the CLI
// (`sims export-hf`, orchestrator/cmd_hf.cpp) needs no torch headers; implemented in sims_trainer.
// A directory holds model.safetensors, config.json and, when the source checkpoint has one, its
// tokenizer.json with the units and markers added (plus tokenizer_config.json,
// special_tokens_map.json and generation_config.json copied as they are).
#include <cstdint>
#include <string>

#include "sweeps/run_config.h"

namespace sims::hf {

// The checkpoint extended for speech with its new rows initialised — what a checkpoint run
// starts from. dtype: "float32" | "bfloat16".
void ExportExtendedCheckpoint(const std::string& checkpoint_dir, const std::string& out_dir,
                              const std::string& dtype, uint64_t seed);

// A run's final weights (`weights`, a sims weights file). Runs started from a checkpoint keep
// its config.json and tokenizer; runs from scratch export as llama (qwen2 with q/k/v biases).
void ExportRunWeights(const std::string& run_id, const RunConfig& config,
                      const std::string& weights, const std::string& out_dir,
                      const std::string& dtype);

}  // namespace sims::hf
