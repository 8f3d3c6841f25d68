#include "trainer/corpus/speech.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::corpus {
namespace {

constexpr int kStates = UnitModel::kStates;
constexpr int kPerState = UnitModel::kUnitsPerState;
// Cumulative weights of the kPerState clusters of a state: a dominant cluster and a tail, as
// k-means assignments of one phone state spread over neighbouring centroids.
constexpr double kClusterCumulative[kPerState] = {0.55, 0.80, 0.93, 1.0};

int32_t DrawCluster(Rng& rng) {
  const double u = rng.Uniform();
  int32_t k = 0;
  while (k < kPerState - 1 && u >= kClusterCumulative[k]) ++k;
  return k;
}

}  // namespace

void SpeechOptions::Validate() const {
  auto require = [](bool ok, const char* field, double value, const char* rule) {
    if (!ok) throw UserError(fmt::format("speech.{} must be {}, got {}", field, rule, value));
  };
  require(speakers >= 2 && speakers <= 1024, "speakers", speakers, "in [2, 1024]");
  require(heldout_speakers >= 1 && heldout_speakers < speakers, "heldout_speakers",
          heldout_speakers, ">= 1 and < speech.speakers (train needs a speaker)");
  require(noise >= 0 && noise <= 1, "noise", noise, "in [0, 1]");
  require(speaker_shift >= 0 && speaker_shift <= 1, "speaker_shift", speaker_shift, "in [0, 1]");
  require(mean_phone_frames >= 1 && mean_phone_frames <= 10, "mean_phone_frames",
          mean_phone_frames, "in [1, 10]");
  require(max_phone_frames >= 1 && max_phone_frames <= 50, "max_phone_frames", max_phone_frames,
          "in [1, 50]");
  require(stay_probability >= 0 && stay_probability < 1, "stay_probability", stay_probability,
          "in [0, 1)");
  require(synthetic_fraction >= 0 && synthetic_fraction <= 1, "synthetic_fraction",
          synthetic_fraction, "in [0, 1]");
  require(unit_count >= kPhoneCount * 2 && unit_count <= 65000, "unit_count", unit_count,
          "in [70, 65000]");
}

UnitModel BuildUnitModel(const SpeechOptions& options, uint64_t seed) {
  options.Validate();
  UnitModel m;
  m.options = options;
  Rng rng(DeriveSeed(seed, {3}));
  const int32_t slots = kPhoneCount * kStates * kPerState;
  m.units.resize(slots);
  for (int32_t& u : m.units) u = rng.Below(options.unit_count);
  // Silence gets a few clusters of its own so pauses look alike across speakers.
  for (int k = 0; k < kStates * kPerState; ++k) m.units[k] = k % 3;
  m.variants.resize(options.speakers);
  m.speaker_rate.resize(options.speakers);
  for (int s = 0; s < options.speakers; ++s) {
    m.variants[s].resize(slots);
    for (int32_t i = 0; i < slots; ++i) {
      // A speaker's variant of a cluster is a nearby id more often than not: real speaker
      // shifts move frames to neighbouring centroids rather than anywhere.
      const int32_t shift = rng.Bernoulli(0.7) ? 1 + rng.Below(8) : rng.Below(options.unit_count);
      m.variants[s][i] = (m.units[i] + shift) % options.unit_count;
    }
    m.speaker_rate[s] = 0.8 + 0.45 * rng.Uniform();
  }
  return m;
}

FrameRendering RenderFrames(const UnitModel& model, const Lexicon& lexicon,
                            std::span<const int32_t> words, Voice voice, uint64_t seed,
                            bool leading_silence) {
  const SpeechOptions& o = model.options;
  const double noise = voice.synthetic ? 0.0 : o.noise;
  const double shift = voice.synthetic ? 0.0 : o.speaker_shift;
  const double rate = voice.synthetic ? 1.0 : model.speaker_rate[voice.speaker];
  const std::vector<int32_t>* variants = voice.synthetic ? nullptr : &model.variants[voice.speaker];
  FrameRendering r;
  r.frames.reserve(words.size() * 12);
  if (leading_silence) {
    Rng rng(DeriveSeed(seed, {0xffffffffULL}));
    const int n = 1 + rng.Below(3);
    for (int i = 0; i < n; ++i) r.frames.push_back(model.units[rng.Below(kPerState)]);
  }
  for (size_t w = 0; w < words.size(); ++w) {
    Rng rng(DeriveSeed(seed, {w, static_cast<uint64_t>(words[w])}));
    r.word_start.push_back(static_cast<int32_t>(r.frames.size()));
    for (uint8_t phone : lexicon.forms[words[w]].phones) {
      const double scale = phone == kSilence ? 1.6 : (IsVowel(phone) ? 1.3 : 0.8);
      const double mean = o.mean_phone_frames * scale * rate;
      // 1 + Poisson(mean - 1), clamped: durations of 1..max frames with the wanted mean.
      int frames = voice.synthetic ? static_cast<int>(std::lround(mean))
                                   : 1 + rng.Poisson(std::max(0.0, mean - 1));
      frames = std::clamp(frames, 1, o.max_phone_frames);
      int32_t previous = -1;
      for (int f = 0; f < frames; ++f) {
        const int state = std::min(kStates - 1, f * kStates / frames);
        int32_t unit;
        if (f > 0 && rng.Bernoulli(o.stay_probability)) {
          unit = previous;
        } else {
          const int32_t slot = (phone * kStates + state) * kPerState + DrawCluster(rng);
          unit = (variants != nullptr && rng.Bernoulli(shift)) ? (*variants)[slot] : model.units[slot];
        }
        previous = unit;
        r.frames.push_back(rng.Bernoulli(noise) ? rng.Below(o.unit_count) : unit);
      }
    }
    r.word_end.push_back(static_cast<int32_t>(r.frames.size()));
  }
  return r;
}

DedupUnits Deduplicate(std::span<const int32_t> frames) {
  DedupUnits d;
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0 && frames[i] == frames[i - 1]) {
      ++d.durations.back();
    } else {
      d.units.push_back(frames[i]);
      d.durations.push_back(1);
      d.starts.push_back(static_cast<int32_t>(i));
    }
  }
  return d;
}

std::vector<int32_t> ExpandDurations(std::span<const int32_t> units,
                                     std::span<const int32_t> durations) {
  std::vector<int32_t> frames;
  for (size_t i = 0; i < units.size(); ++i) frames.insert(frames.end(), durations[i], units[i]);
  return frames;
}

}  // namespace sims::corpus
