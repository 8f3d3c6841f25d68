#pragma once
// Checkpoints and final weights of a run, in <run_dir>. Call SaveCheckpoint after an
// evaluation (or every checkpoint_every steps) and on a graceful stop; NewestCheckpoint +
// LoadCheckpoint when a run starts.
//
// A checkpoint is one LibTorch archive <run_dir>/checkpoints/step-<step, 9 digits>.pt holding
//   header:    format "sims-checkpoint", version kCheckpointVersion, run_id
//   state:     step (optimizer steps done), tokens (training tokens consumed), samples
//              (sequences drawn: the data sampler's whole state, it is counter-based)
//   model:     every parameter by name (see model.h)
//   optimizer: AdamW moments and step count of every parameter, by name (version 2; version 1
//              held LibTorch's own optimizer archive, still read when every rank is one)
// Whatever the number of ranks that trained it, a checkpoint holds the full state, so a run
// resumes with another number of ranks (each takes the slots of its share).
// The training loop uses no torch randomness after initialisation (no dropout), so no torch
// RNG state is needed for an exact resume. The file is written to "<name>.tmp", fsynced and
// renamed, so a SIGKILL leaves either the old set of checkpoints or the new one; then all but
// the newest `keep` are deleted. A write that fails (a full disk, a file size limit) throws
// UserError naming the file and the OS error; the temp file is removed and the older
// checkpoints are kept, so the run fails with its reason and can resume from them.
//
// Text-LM init loads the text LM's final weights whole (LoadWeights), unit and marker rows
// included. The text LM was built with the full vocabulary, so those rows hold its seeded
// random init, and (for the output head, or a tied embedding) the softmax's push-down of
// tokens that never occur. They are kept as they are: distinct per unit, and improbable, so the
// model starts exactly as the text LM (its text loss is unchanged). Measured alternative, the
// mean of the trained rows + noise (Hugging Face's resize_token_embeddings): on the trainer
// test corpus (8 text tokens) it raised the text LM's validation loss from 4.29 to 6.18, as
// 502 rows at an average logit take most of the probability mass.
//
// Final weights (<run_dir>/final.pt, FinalWeightsPath in train.h) hold the header (format
// "sims-weights") and the model only.
#include <cstdint>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "trainer/corpus/vocab.h"
#include "trainer/model.h"
#include "trainer/optim.h"

namespace sims::trainer {

inline constexpr int64_t kCheckpointVersion = 2;

struct TrainState {
  int64_t step = 0;
  int64_t tokens = 0;
  int64_t samples = 0;
};

// `optimizer`: a slot per parameter (ReadAdamW, completed from the other ranks when sharded).
// Returns the path written.
std::string SaveCheckpoint(const std::string& run_dir, const std::string& run_id,
                           const TrainState& state, Decoder& model,
                           const std::vector<AdamWSlot>& optimizer, int keep);
// The checkpoint with the highest step, ignoring temp files; nullopt if none.
std::optional<std::string> NewestCheckpoint(const std::string& run_dir);
// Loads into an already built model of the same shape and returns the optimizer's slots (to
// WriteAdamW). `hp` builds the AdamW a version-1 file is read through. Throws UserError naming
// the file if it is not a sims checkpoint, has another version, or belongs to another run.
struct LoadedCheckpoint {
  TrainState state;
  std::vector<AdamWSlot> optimizer;
};
LoadedCheckpoint LoadCheckpoint(const std::string& path, const std::string& run_id,
                                Decoder& model, const Hyperparameters& hp);

void SaveWeights(const std::string& path, const std::string& run_id, Decoder& model);
// Throws UserError naming the file if it is missing, not sims weights, or of another shape.
void LoadWeights(const std::string& path, Decoder& model);

// Rows for tokens a model never saw, when a vocabulary is EXTENDED (a Hugging Face checkpoint
// gets the 500 units and 2 markers appended, issue 10): the unit and marker rows of `weight`
// (V, C) become the mean of the trained rows (text tokens, BOS, EOS) plus N(0, (0.1 sd)^2)
// noise, sd the standard deviation of all trained-row elements, from a CPU generator seeded
// with `seed` (Hugging Face's resize_token_embeddings does the same). With a large text
// vocabulary the new rows take little probability mass; the synthetic text-LM init does NOT use
// it (see above). Rows beyond vocab.used_size() are left alone.
void InitUntrainedRows(torch::Tensor weight, const corpus::Vocabulary& vocab, uint64_t seed);

}  // namespace sims::trainer
