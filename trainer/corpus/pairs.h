#pragma once
// Eval pair sets (sBLIMP-, sSC-, tSC-like): per pair a prefix and two continuations, a
// `positive` (grammatical / coherent) and a `negative` one. Call LoadPairSet(corpus, task).
//
// How the trainer scores a pair (DESIGN.md): the sequence [vocab.bos] + prefix + continuation is
// scored by the mean log-likelihood of the continuation's tokens; the pair is right when the
// positive's mean is higher, ties count 0.5. Pair tokens never contain BOS or EOS.
//   - sblimp/*: empty prefix; positive and negative are whole sentences.
//   - ssc/*, tsc/*: the story's first sentences as prefix, the ending as continuation.
//   - */speech and */text: everything in one modality, without markers (as in the speech and
//     text streams).
//   - */text2speech: text prefix, then the speech marker as the prefix's last token, then a
//     speech continuation; */speech2text likewise with the text marker (as in the interleaved
//     stream, where a marker precedes every switch). Continuations are therefore marker-free.
// Speech in pair sets is rendered by held-out speakers from held-out stories.
//
// File: `<corpus>/eval/<task with '/' as '_'>.bin`, a shard of kind kPairs whose documents come
// in threes: document 3i is pair i's prefix, 3i+1 its positive, 3i+2 its negative.
#include <cstdint>
#include <string>
#include <vector>

namespace sims::corpus {

struct EvalPair {
  std::vector<int32_t> prefix;
  std::vector<int32_t> positive;
  std::vector<int32_t> negative;
};

struct PairSet {
  std::string task;  // e.g. "ssc/text2speech"
  std::vector<EvalPair> pairs;
};

// The ten tasks of a synthetic corpus, in report order:
// sblimp/{speech,text}, ssc/{speech,text,text2speech,speech2text}, tsc/likewise.
const std::vector<std::string>& PairTasks();
// "ssc/text2speech" -> "eval/ssc_text2speech.bin" (relative to the corpus directory).
std::string PairSetRelativePath(const std::string& task);

// Throws UserError naming the file if the pair set is missing or does not match the corpus's
// vocab.json (hash), or if its document count is not a multiple of three.
PairSet LoadPairSet(const std::string& corpus_dir, const std::string& task);
// Atomic (temp + rename) like every shard.
void WritePairSet(const std::string& corpus_dir, const PairSet& set, const std::string& vocab_hash,
                  int32_t vocab_size);

}  // namespace sims::corpus
