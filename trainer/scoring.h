#pragma once
// Pair-accuracy evaluation (sBLIMP-, sSC-, tSC-like sets; see trainer/corpus/pairs.h). Call
// ScorePairs for one pair set.
//
// Each member is the sequence [BOS] + prefix + continuation; its score is the log-likelihood
// of the continuation's tokens under the model, each token predicted from everything before
// it. A pair is right when the positive scores higher, a tie counts 0.5.
//   - mean (default) divides by the number of scored tokens, so a longer continuation is not
//     penalised for its length (slamkit's default); sum is the plain total.
//   - unit_only renormalises over the speech units: the log-softmax is taken over the unit
//     logits only and only tokens that are units are scored (text tokens and markers are
//     masked out). Meant for speech continuations of a model that also speaks text.
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "trainer/corpus/pairs.h"
#include "trainer/corpus/vocab.h"
#include "trainer/model.h"

namespace sims::trainer {

struct ScoringOptions {
  bool mean = true;        // mean per-token log-likelihood; false = summed
  bool unit_only = false;  // renormalise over unit tokens, score units only
  int64_t batch = 32;      // sequences per forward pass (memory, not results)
  int64_t max_tokens = 0;  // keep at most this many trailing tokens per sequence; 0 = all
};

struct Likelihood {
  double sum = 0;      // summed log-likelihood (natural log) of the scored tokens
  int64_t tokens = 0;  // how many tokens were scored
};

// Scores [BOS] + prefix + continuation for each (prefix, continuation), in order. Runs under
// NoGradGuard on the model's device.
std::vector<Likelihood> ScoreContinuations(
    Decoder& model, const corpus::Vocabulary& vocab,
    const std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>>& members,
    const ScoringOptions& options);

struct PairAccuracy {
  double accuracy = 0;  // in [0, 1]; ties count 0.5
  int64_t n_pairs = 0;
};

PairAccuracy ScorePairs(Decoder& model, const corpus::Vocabulary& vocab,
                        const corpus::PairSet& pairs, const ScoringOptions& options);

}  // namespace sims::trainer
