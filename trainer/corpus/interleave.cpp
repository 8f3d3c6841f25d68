#include "trainer/corpus/interleave.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::corpus {

void InterleaveOptions::Validate() const {
  if (!(lambda > 0 && lambda <= 1000)) {
    throw UserError(fmt::format("interleave.lambda must be in (0, 1000], got {}", lambda));
  }
  if (!(speech_fraction >= 0 && speech_fraction <= 1)) {
    throw UserError(
        fmt::format("interleave.speech_fraction must be in [0, 1], got {}", speech_fraction));
  }
}

InterleaveMethod ParseInterleaveMethod(const std::string& name) {
  if (name == "poisson") return InterleaveMethod::kPoisson;
  if (name == "span") return InterleaveMethod::kSpan;
  if (name == "random") return InterleaveMethod::kRandom;
  throw UserError(fmt::format(
      "interleave.method = \"{}\" is unknown; expected \"poisson\", \"span\" or \"random\"", name));
}

std::string InterleaveMethodName(InterleaveMethod method) {
  switch (method) {
    case InterleaveMethod::kPoisson: return "poisson";
    case InterleaveMethod::kSpan: return "span";
    case InterleaveMethod::kRandom: return "random";
  }
  return "?";
}

std::vector<bool> ChooseSpeechWords(size_t n, const InterleaveOptions& o, Rng& rng) {
  std::vector<bool> speech(n, false);
  if (n == 0) return speech;
  switch (o.method) {
    case InterleaveMethod::kRandom:
      for (size_t i = 0; i < n; ++i) speech[i] = rng.Bernoulli(o.speech_fraction);
      break;
    case InterleaveMethod::kSpan: {
      const int span = std::max(1, static_cast<int>(std::lround(o.lambda)));
      // After a span, text words until the next start are geometric with mean (1-p)/p, so the
      // speech share is span / (span + (1-p)/p); solving for p gives the wanted share.
      const double f = o.speech_fraction, L = static_cast<double>(span);
      const double start_probability = f >= 1 ? 1.0 : f / (L * (1 - f) + f);
      int remaining = 0;
      for (size_t i = 0; i < n; ++i) {
        if (remaining == 0 && rng.Bernoulli(start_probability)) remaining = span;
        speech[i] = remaining > 0;
        if (remaining > 0) --remaining;
      }
      break;
    }
    case InterleaveMethod::kPoisson: {
      const size_t quota = static_cast<size_t>(std::ceil(static_cast<double>(n) * o.speech_fraction - 1e-9));
      std::vector<size_t> eligible(n);
      for (size_t i = 0; i < n; ++i) eligible[i] = i;
      size_t selected = 0;
      while (selected < quota && !eligible.empty()) {
        const size_t pick = static_cast<size_t>(rng.Below(static_cast<int32_t>(eligible.size())));
        const size_t start = eligible[pick];
        const size_t length = static_cast<size_t>(rng.Poisson(o.lambda));
        size_t end = std::min({start + length, n, start + (quota - selected)});
        for (size_t i = start; i < end; ++i) {
          if (speech[i]) {
            end = i;  // clip at an already-spoken word: spans never overlap
            break;
          }
        }
        for (size_t i = start; i < end; ++i) speech[i] = true;
        selected += end - start;
        // As in slamkit, the word right after a span cannot start a new span (spans never touch
        // from the left), and the span's own words are no longer eligible.
        std::erase_if(eligible, [&](size_t i) { return (i >= start && i < end) || i == end; });
        if (end == start) std::erase(eligible, start);  // a zero-length draw retires its start
      }
      break;
    }
  }
  return speech;
}

std::vector<int32_t> Interleave(const AlignedUtterance& u, const std::vector<bool>& speech_words,
                                const Vocabulary& vocab) {
  std::vector<int32_t> out;
  const size_t n = u.word_start.size();
  size_t w = 0;
  while (w < n) {
    size_t end = w;
    while (end < n && speech_words[end] == speech_words[w]) ++end;
    out.push_back(speech_words[w] ? vocab.speech_marker : vocab.text_marker);
    if (speech_words[w]) {
      // Units whose start frame falls inside [start of word w, end of word end-1).
      const int32_t first_frame = u.word_start[w], last_frame = u.word_end[end - 1];
      auto lo = std::lower_bound(u.unit_starts.begin(), u.unit_starts.end(), first_frame);
      auto hi = std::lower_bound(u.unit_starts.begin(), u.unit_starts.end(), last_frame);
      for (auto it = lo; it != hi; ++it) out.push_back(u.units[it - u.unit_starts.begin()]);
    } else {
      for (size_t i = w; i < end; ++i) {
        out.insert(out.end(), u.text_tokens[i].begin(), u.text_tokens[i].end());
      }
    }
    w = end;
  }
  return out;
}

}  // namespace sims::corpus
