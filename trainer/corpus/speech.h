#pragma once
// Speech rendering of the synthetic language: phones -> frame-level units (25 Hz-like) ->
// de-duplicated unit tokens with durations, plus the word alignment that interleaving needs.
// Call BuildUnitModel once per corpus, then RenderFrames per utterance and Deduplicate.
//
// The model mimics mHuBERT-25Hz k-means-500 units: each phone has three sub-phone states, each
// state a few likely units (shared between phones now and then, as real clusters are); a phone
// lasts 1..max_phone_frames frames (vowels longer); within a phone a frame repeats the previous
// unit with stay_probability, so de-duplication shortens sequences by a realistic ~1.3x (the
// ratio of slamkit's mHuBERT-25Hz example files);
// speakers speak at their own rate and draw some frames from their own unit variants; noise
// replaces a frame by a uniformly random unit. Held-out speakers (the last `heldout_speakers`)
// render only validation, test and eval speech. A "synthetic" voice (noise-free, one speaker,
// fixed rate) stands in for TTS data such as the paper's sTinyStories.
#include <cstdint>
#include <span>
#include <vector>

#include "trainer/corpus/world.h"

namespace sims::corpus {

struct SpeechOptions {
  int speakers = 8;               // total speakers, held-out ones included
  int heldout_speakers = 2;       // speakers reserved for valid/test/eval speech
  double noise = 0.05;            // probability that a frame's unit is replaced by a random one
  double speaker_shift = 0.3;     // probability that a frame uses the speaker's own unit variant
  double mean_phone_frames = 2.2; // mean phone duration in frames (consonants 0.8x, vowels 1.3x)
  int max_phone_frames = 6;       // durations are clamped to [1, max]
  double stay_probability = 0.35; // chance a frame repeats the previous frame's unit (same phone)
  double synthetic_fraction = 0;  // share of train speech/interleaved documents in the clean voice
  int unit_count = 500;           // k-means clusters (mHuBERT-25Hz: 500)
  void Validate() const;          // throws UserError naming "speech.<field>"
};

// Who speaks: a speaker index in [0, speakers), or the clean synthetic voice.
struct Voice {
  int32_t speaker = 0;
  bool synthetic = false;
};

struct UnitModel {
  SpeechOptions options;
  static constexpr int kStates = 3, kUnitsPerState = 4;
  // units[(phone * kStates + state) * kUnitsPerState + k]: the base clusters of a state.
  std::vector<int32_t> units;
  // variants[speaker][same index]: the speaker's own clusters for that state.
  std::vector<std::vector<int32_t>> variants;
  std::vector<double> speaker_rate;  // duration multiplier per speaker
};

UnitModel BuildUnitModel(const SpeechOptions& options, uint64_t seed);

// One utterance at frame level. Word w covers frames [word_start[w], word_end[w]); frames before
// the first word are leading silence. "." is a word whose frames are silence.
struct FrameRendering {
  std::vector<int32_t> frames;  // unit index (0-based) per frame
  std::vector<int32_t> word_start, word_end;
};

// Deterministic in (seed, word position, word): the same word at the same position of two
// utterances rendered with the same seed and voice has the same frames, so minimal pairs differ
// in speech only where they differ in words.
FrameRendering RenderFrames(const UnitModel& model, const Lexicon& lexicon,
                            std::span<const int32_t> words, Voice voice, uint64_t seed,
                            bool leading_silence);

// Runs of one unit collapse to one token; durations (frames) and start frames are kept.
struct DedupUnits {
  std::vector<int32_t> units;
  std::vector<int32_t> durations;
  std::vector<int32_t> starts;  // start frame of each token
};
DedupUnits Deduplicate(std::span<const int32_t> frames);
std::vector<int32_t> ExpandDurations(std::span<const int32_t> units,
                                     std::span<const int32_t> durations);

}  // namespace sims::corpus
