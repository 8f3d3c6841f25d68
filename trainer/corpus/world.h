#pragma once
// The synthetic world: a lexicon of pronounceable words, a grammar with agreement, and short
// stories whose ending follows from an event earlier in the story. Text and speech are two
// renderings of the same stories, so a model that learns the language from text has learned
// something about the speech too (the question the sweeps ask). Call BuildWorld, then
// SampleStory / SampleSentence with an Rng. Rendering to units lives in speech.h.
//
// What a model can learn here (and the eval pair sets probe):
//   - agreement: determiner-noun number ("a dog" / "these dogs") and subject-verb number, also
//     across a relative clause with an attractor ("the dog that sees the cats runs");
//   - word order: determiner before noun, subject-verb-object;
//   - stories: a topic (its nouns, verbs, adjectives), a protagonist with a gender (he/she), an
//     object, and a key event of good or bad valence (finds / loses the kite), sometimes reversed
//     ("but then ..."); the ending's mood or reaction follows the last event's valence.
#include <cstdint>
#include <string>
#include <vector>

#include "trainer/corpus/rng.h"

namespace sims::corpus {

// Phone 0 is silence ("." in text, pauses between sentences); 1..20 consonants; 21..34 vowels.
inline constexpr int kPhoneCount = 35;
inline constexpr uint8_t kSilence = 0;
bool IsVowel(uint8_t phone);

struct WorldOptions {
  int topics = 8;                 // story topics; each has its own nouns, verbs, adjectives
  int nouns_per_topic = 14;       // object nouns per topic (each has a singular and a plural)
  int verbs_per_topic = 5;        // transitive verbs per topic (3sg and plural forms)
  int adjectives_per_topic = 3;
  int names = 24;                 // protagonists (half he, half she)
  int animals = 12;               // animate nouns that can be subjects
  int intransitive_verbs = 10;
  int transitive_verbs = 8;       // topic-free transitive verbs
  int adjectives = 10;            // topic-free adjectives
  double zipf_exponent = 1.0;     // word frequency within a category ~ 1 / rank^s
  double grammar_depth = 1.0;     // scales how often PPs, relative clauses, coordination occur
  int story_sentences_min = 3;    // intro + key event + ending at least
  int story_sentences_max = 6;
  double reversal_probability = 0.25;  // a second event of opposite valence flips the ending
  double heldout_plot_fraction = 0.1;  // plots kept out of train (valid, test and eval only)
  // Validation: throws UserError naming the field ("world.topics must be >= 2, got 1").
  void Validate() const;
};

struct WordForm {
  std::string text;             // spelling; unique; it is the text token
  std::vector<uint8_t> phones;  // pronunciation; "." is a single silence
};

struct Lemma {
  int32_t sg = -1;  // form index of the singular (3sg for verbs)
  int32_t pl = -1;  // form index of the plural; == sg for number-invariant words
  int32_t Form(bool plural) const { return plural ? pl : sg; }
};

struct Topic {
  std::vector<Lemma> nouns, verbs;
  std::vector<int32_t> adjectives;
};

// Every word form has an index; text token j of the vocabulary is forms[j].
struct Lexicon {
  std::vector<WordForm> forms;
  int32_t the = -1, a = -1, this_ = -1, these = -1, some = -1;
  int32_t he = -1, she = -1, they = -1, is = -1, are = -1, that = -1;
  int32_t and_ = -1, then = -1, so = -1, because = -1, but = -1, period = -1;
  int32_t about = -1, at = -1;
  std::vector<int32_t> prepositions;  // in, on, near, with, under
  std::vector<int32_t> names;
  std::vector<bool> name_is_female;
  std::vector<Lemma> animals, intransitive, transitive;
  std::vector<int32_t> adjectives;
  std::vector<Lemma> good_events, bad_events;        // paired: finds / loses
  std::vector<int32_t> good_moods, bad_moods;        // paired: happy / sad; [i] answers event i
  std::vector<Lemma> good_reactions, bad_reactions;  // paired: laughs / cries; [i] answers event i
  std::vector<Topic> topics;
};

struct World {
  WorldOptions options;
  uint64_t seed = 0;
  Lexicon lexicon;
  // Cumulative Zipf weights by category size (index n: n entries), built once by BuildWorld
  // because sampling them is the generator's hot path; topics use exponent 0.5.
  std::vector<std::vector<double>> zipf_cumulative, topic_cumulative;
};

World BuildWorld(const WorldOptions& options, uint64_t seed);

// A place in a sentence where a one-word change makes it ungrammatical (sBLIMP pairs).
enum class SiteKind : uint8_t {
  kVerbAgreement,        // replace the verb at `position` by `alternative` (other number)
  kDeterminerAgreement,  // replace the determiner at `position` by `alternative`
  kWordOrder,            // swap the words at `position` and `position + 1`
};
struct Site {
  SiteKind kind;
  int32_t position;
  int32_t alternative;  // form index; unused for kWordOrder
};

struct Sentence {
  std::vector<int32_t> words;  // form indices, ending with lexicon.period
  std::vector<Site> sites;
};

struct Story {
  int32_t topic = 0;
  // The plot: who, what, which event pair, and whether the last event was good.
  int32_t protagonist = 0, object = 0, event = 0;
  bool ends_good = false;
  uint64_t plot = 0;                    // a key of (topic, protagonist, object, event, first valence)
  bool heldout = false;                 // its plot is reserved for valid/test/eval
  std::vector<Sentence> sentences;      // the last one is the ending
  Sentence contradicting_ending;        // same ending with the opposite valence (sSC negative)
  std::vector<int32_t> Words() const;   // all sentences concatenated
};

enum class PlotSplit { kTrain, kHeldout };
// Samples until the plot belongs to `split`. `sentences` = 0 draws the count from the options.
Story SampleStory(const World& world, Rng& rng, PlotSplit split, int sentences = 0);
// A stand-alone sentence (topic chosen at random) with at least one violation site.
Sentence SampleSentence(const World& world, Rng& rng, int max_words = 10);

// Applies a violation site: the ungrammatical twin of `sentence`.
std::vector<int32_t> Violate(const Sentence& sentence, const Site& site);
std::string Spell(const Lexicon& lexicon, const std::vector<int32_t>& words);

}  // namespace sims::corpus
