#include "trainer/corpus/world.h"

#include <cmath>
#include <unordered_set>

#include <fmt/format.h>

#include "common/error.h"

namespace sims::corpus {
namespace {

const char* const kPhoneSpelling[kPhoneCount] = {
    ".",  "p",  "t",  "k",  "b",  "d",  "g",  "m",  "n",  "s",  "z",  "f",
    "v",  "l",  "r",  "w",  "j",  "h",  "sh", "ch", "th", "a",  "e",  "i",
    "o",  "u",  "ai", "au", "ei", "oi", "ou", "aa", "ee", "oo", "uu"};
constexpr uint8_t kFirstConsonant = 1, kConsonants = 20, kFirstVowel = 21, kVowels = 14;
constexpr uint8_t kPhoneS = 9, kPhoneT = 2, kPhoneE = 22, kPhoneA = 21;

std::vector<std::vector<double>> ZipfTables(double s, size_t max_size) {
  std::vector<std::vector<double>> tables(max_size + 1);
  for (size_t n = 1; n <= max_size; ++n) {
    double total = 0;
    for (size_t r = 0; r < n; ++r) {
      total += 1.0 / std::pow(static_cast<double>(r + 1), s);
      tables[n].push_back(total);
    }
  }
  return tables;
}

class LexiconBuilder {
 public:
  explicit LexiconBuilder(uint64_t seed) : rng_(DeriveSeed(seed, {1})) {}

  // A fresh word of `syllables` CV(C) syllables whose spelling (and every derived form) is new.
  std::vector<uint8_t> FreshStem(int syllables, bool allow_coda) {
    while (true) {
      std::vector<uint8_t> phones;
      for (int s = 0; s < syllables; ++s) {
        phones.push_back(static_cast<uint8_t>(kFirstConsonant + rng_.Below(kConsonants)));
        phones.push_back(static_cast<uint8_t>(kFirstVowel + rng_.Below(kVowels)));
      }
      if (allow_coda && rng_.Bernoulli(0.4)) {
        phones.push_back(static_cast<uint8_t>(kFirstConsonant + rng_.Below(kConsonants)));
      }
      if (!used_.contains(SpellPhones(phones))) return phones;
    }
  }

  int32_t Add(const std::vector<uint8_t>& phones) {
    WordForm form{SpellPhones(phones), phones};
    used_.insert(form.text);
    lexicon.forms.push_back(std::move(form));
    return static_cast<int32_t>(lexicon.forms.size()) - 1;
  }

  // Tries stems until the stem and its suffixed form are both new.
  Lemma Inflected(int syllables, bool noun) {
    while (true) {
      std::vector<uint8_t> stem = FreshStem(syllables, true);
      std::vector<uint8_t> suffixed = stem;
      const bool ends_in_vowel = IsVowel(stem.back());
      // Nouns: plural -s / -es. Verbs: third person singular -t / -at.
      if (!ends_in_vowel) suffixed.push_back(noun ? kPhoneE : kPhoneA);
      suffixed.push_back(noun ? kPhoneS : kPhoneT);
      if (used_.contains(SpellPhones(suffixed))) continue;
      if (noun) {
        const int32_t sg = Add(stem);
        return {sg, Add(suffixed)};
      }
      const int32_t pl = Add(stem);
      return {Add(suffixed), pl};
    }
  }
  int32_t Word(int syllables) { return Add(FreshStem(syllables, syllables > 1)); }

  Lexicon lexicon;

 private:
  static std::string SpellPhones(const std::vector<uint8_t>& phones) {
    std::string s;
    for (uint8_t p : phones) s += kPhoneSpelling[p];
    return s;
  }
  Rng rng_;
  std::unordered_set<std::string> used_;
};

// Sentence construction with the bookkeeping for violation sites.
class SentenceBuilder {
 public:
  SentenceBuilder(const World& world, Rng& rng, int32_t topic)
      : w_(world), lex_(world.lexicon), rng_(rng), topic_(topic),
        zipf_(world.zipf_cumulative) {}

  template <typename T>
  const T& Pick(const std::vector<T>& items) {
    return items[rng_.FromCumulative(zipf_[items.size()])];
  }

  void Push(int32_t form) { s.words.push_back(form); }
  int32_t Position() const { return static_cast<int32_t>(s.words.size()); }

  // Determiner (+ adjective) + noun, with agreement and word-order sites.
  void NounPhrase(const Lemma& noun, bool plural, bool indefinite_ok) {
    int32_t det;
    const double u = rng_.Uniform();
    if (!plural) {
      det = (u < 0.55 || !indefinite_ok) ? lex_.the : (u < 0.85 ? lex_.a : lex_.this_);
    } else {
      det = (u < 0.55 || !indefinite_ok) ? lex_.the : (u < 0.85 ? lex_.some : lex_.these);
    }
    const int32_t det_position = Position();
    Push(det);
    // "the" fits both numbers, so only a/this/these/some carry an agreement site.
    if (det == lex_.a) s.sites.push_back({SiteKind::kDeterminerAgreement, det_position, lex_.some});
    if (det == lex_.this_) s.sites.push_back({SiteKind::kDeterminerAgreement, det_position, lex_.these});
    if (det == lex_.some) s.sites.push_back({SiteKind::kDeterminerAgreement, det_position, lex_.a});
    if (det == lex_.these) s.sites.push_back({SiteKind::kDeterminerAgreement, det_position, lex_.this_});
    s.sites.push_back({SiteKind::kWordOrder, det_position, -1});
    if (rng_.Bernoulli(0.25)) {
      Push(rng_.Bernoulli(0.6) ? Pick(lex_.topics[topic_].adjectives) : Pick(lex_.adjectives));
    }
    Push(noun.Form(plural));
  }

  const Lemma& TopicNoun() {
    // Mostly this topic's nouns; sometimes another topic's (real stories drift a little).
    const int32_t t = rng_.Bernoulli(0.9) ? topic_ : rng_.Below(static_cast<int32_t>(lex_.topics.size()));
    return Pick(lex_.topics[t].nouns);
  }

  void Verb(const Lemma& verb, bool plural_subject) {
    s.sites.push_back({SiteKind::kVerbAgreement, Position(), verb.Form(!plural_subject)});
    Push(verb.Form(plural_subject));
  }

  // Verb phrase agreeing with the subject; object and PP from the topic.
  void VerbPhrase(bool plural_subject) {
    const double depth = w_.options.grammar_depth;
    if (rng_.Bernoulli(0.65)) {
      const Lemma& verb =
          rng_.Bernoulli(0.75) ? Pick(lex_.topics[topic_].verbs) : Pick(lex_.transitive);
      const int32_t verb_position = Position();
      Verb(verb, plural_subject);
      s.sites.push_back({SiteKind::kWordOrder, verb_position, -1});  // "mira the kite finds"
      NounPhrase(TopicNoun(), rng_.Bernoulli(0.3), true);
    } else {
      Verb(Pick(lex_.intransitive), plural_subject);
    }
    if (rng_.Bernoulli(std::min(0.9, 0.3 * depth))) {
      Push(Pick(lex_.prepositions));
      NounPhrase(TopicNoun(), rng_.Bernoulli(0.3), true);
    }
  }

  // A subject; returns whether it is plural. Pronoun subjects refer to the protagonist.
  bool Subject(int32_t protagonist, int32_t companion_animal) {
    const double u = rng_.Uniform();
    if (protagonist >= 0 && u < 0.3) {
      Push(lex_.names[protagonist]);
      return false;
    }
    if (protagonist >= 0 && u < 0.5) {
      Push(lex_.name_is_female[protagonist] ? lex_.she : lex_.he);
      return false;
    }
    if (u < 0.6) {
      Push(lex_.they);
      return true;
    }
    bool plural = false;
    if (companion_animal >= 0 && u < 0.75) {
      NounPhrase(lex_.animals[companion_animal], false, false);  // "the dog" of this story
    } else {
      plural = rng_.Bernoulli(0.35);
      NounPhrase(Pick(lex_.animals), plural, true);
    }
    // A relative clause puts an attractor between the subject and its verb.
    if (rng_.Bernoulli(std::min(0.9, 0.15 * w_.options.grammar_depth))) {
      Push(lex_.that);
      Verb(rng_.Bernoulli(0.5) ? Pick(lex_.topics[topic_].verbs) : Pick(lex_.transitive), plural);
      NounPhrase(TopicNoun(), rng_.Bernoulli(0.5), true);
    }
    return plural;
  }

  void Clause(int32_t protagonist, int32_t companion) {
    const bool plural = Subject(protagonist, companion);
    VerbPhrase(plural);
  }

  void FreeSentence(int32_t protagonist, int32_t companion) {
    Clause(protagonist, companion);
    if (rng_.Bernoulli(std::min(0.9, 0.15 * w_.options.grammar_depth))) {
      const double u = rng_.Uniform();
      Push(u < 0.5 ? lex_.and_ : (u < 0.8 ? lex_.because : lex_.but));
      Clause(protagonist, companion);
    }
    Push(lex_.period);
  }

  Sentence s;

 private:
  const World& w_;
  const Lexicon& lex_;
  Rng& rng_;
  int32_t topic_;
  const std::vector<std::vector<double>>& zipf_;
};

bool IsHeldoutPlot(const World& world, uint64_t key) {
  Rng r(DeriveSeed(world.seed, {2, key}));
  return r.Uniform() < world.options.heldout_plot_fraction;
}

}  // namespace

bool IsVowel(uint8_t phone) { return phone >= kFirstVowel && phone < kFirstVowel + kVowels; }

void WorldOptions::Validate() const {
  auto require = [](bool ok, const char* field, double value, const char* rule) {
    if (!ok) throw UserError(fmt::format("world.{} must be {}, got {}", field, rule, value));
  };
  require(topics >= 2 && topics <= 64, "topics", topics, "in [2, 64]");
  require(nouns_per_topic >= 2 && nouns_per_topic <= 256, "nouns_per_topic", nouns_per_topic, "in [2, 256]");
  require(verbs_per_topic >= 1 && verbs_per_topic <= 256, "verbs_per_topic", verbs_per_topic, "in [1, 256]");
  require(adjectives_per_topic >= 1 && adjectives_per_topic <= 256, "adjectives_per_topic", adjectives_per_topic, "in [1, 256]");
  require(names >= 2 && names <= 256, "names", names, "in [2, 256]");
  require(animals >= 1 && animals <= 256, "animals", animals, "in [1, 256]");
  require(intransitive_verbs >= 1 && intransitive_verbs <= 256, "intransitive_verbs", intransitive_verbs, "in [1, 256]");
  require(transitive_verbs >= 1 && transitive_verbs <= 256, "transitive_verbs", transitive_verbs, "in [1, 256]");
  require(adjectives >= 1 && adjectives <= 256, "adjectives", adjectives, "in [1, 256]");
  require(zipf_exponent >= 0 && zipf_exponent <= 3, "zipf_exponent", zipf_exponent, "in [0, 3]");
  require(grammar_depth >= 0 && grammar_depth <= 3, "grammar_depth", grammar_depth, "in [0, 3]");
  require(story_sentences_min >= 3, "story_sentences_min", story_sentences_min, ">= 3 (intro, event, ending)");
  require(story_sentences_max >= story_sentences_min && story_sentences_max <= 64, "story_sentences_max",
          story_sentences_max, ">= story_sentences_min and <= 64");
  require(reversal_probability >= 0 && reversal_probability <= 1, "reversal_probability", reversal_probability, "in [0, 1]");
  require(heldout_plot_fraction > 0 && heldout_plot_fraction < 1, "heldout_plot_fraction", heldout_plot_fraction, "in (0, 1)");
}

World BuildWorld(const WorldOptions& options, uint64_t seed) {
  options.Validate();
  World world;
  world.options = options;
  world.seed = seed;
  LexiconBuilder b(seed);
  Lexicon& lex = b.lexicon;
  // Function words first (short, one syllable), so their token ids are the lowest text ids.
  lex.period = b.Add({kSilence});
  for (int32_t* w : {&lex.the, &lex.a, &lex.this_, &lex.these, &lex.some, &lex.he, &lex.she,
                     &lex.they, &lex.is, &lex.are, &lex.that, &lex.and_, &lex.then, &lex.so,
                     &lex.because, &lex.but, &lex.about, &lex.at}) {
    *w = b.Word(1);
  }
  for (int i = 0; i < 5; ++i) lex.prepositions.push_back(b.Word(1));
  for (int i = 0; i < options.names; ++i) {
    lex.names.push_back(b.Word(2));
    lex.name_is_female.push_back(i % 2 == 0);
  }
  for (int i = 0; i < options.animals; ++i) lex.animals.push_back(b.Inflected(2, true));
  for (int i = 0; i < options.intransitive_verbs; ++i) lex.intransitive.push_back(b.Inflected(2, false));
  for (int i = 0; i < options.transitive_verbs; ++i) lex.transitive.push_back(b.Inflected(2, false));
  for (int i = 0; i < options.adjectives; ++i) lex.adjectives.push_back(b.Word(2));
  // Valence pairs: 4 event verbs, each with its own mood and reaction pair of each polarity.
  for (int i = 0; i < 4; ++i) {
    lex.good_events.push_back(b.Inflected(2, false));
    lex.bad_events.push_back(b.Inflected(2, false));
  }
  for (int i = 0; i < 4; ++i) {
    lex.good_moods.push_back(b.Word(2));
    lex.bad_moods.push_back(b.Word(2));
  }
  for (int i = 0; i < 4; ++i) {
    lex.good_reactions.push_back(b.Inflected(2, false));
    lex.bad_reactions.push_back(b.Inflected(2, false));
  }
  for (int t = 0; t < options.topics; ++t) {
    Topic topic;
    for (int i = 0; i < options.nouns_per_topic; ++i) topic.nouns.push_back(b.Inflected(2 + (i % 3 == 2), true));
    for (int i = 0; i < options.verbs_per_topic; ++i) topic.verbs.push_back(b.Inflected(2, false));
    for (int i = 0; i < options.adjectives_per_topic; ++i) topic.adjectives.push_back(b.Word(3));
    lex.topics.push_back(std::move(topic));
  }
  world.lexicon = std::move(lex);
  world.zipf_cumulative = ZipfTables(options.zipf_exponent, 256);
  world.topic_cumulative = ZipfTables(0.5, 64);
  return world;
}

std::vector<int32_t> Story::Words() const {
  std::vector<int32_t> words;
  for (const Sentence& s : sentences) words.insert(words.end(), s.words.begin(), s.words.end());
  return words;
}

Story SampleStory(const World& world, Rng& rng, PlotSplit split, int sentences) {
  const Lexicon& lex = world.lexicon;
  const WorldOptions& o = world.options;
  const auto& zipf = world.zipf_cumulative;
  // Draw the plot (topic, protagonist, object, event, valence) until it is in the wanted split.
  int32_t topic, protagonist, object, event;
  bool good;
  uint64_t key;
  while (true) {
    topic = rng.FromCumulative(world.topic_cumulative[lex.topics.size()]);
    protagonist = rng.FromCumulative(zipf[lex.names.size()]);
    object = rng.FromCumulative(zipf[lex.topics[topic].nouns.size()]);
    event = rng.FromCumulative(zipf[lex.good_events.size()]);
    good = rng.Bernoulli(0.5);
    key = (((static_cast<uint64_t>(topic) * 4096 + protagonist) * 4096 + object) * 64 + event) * 2 + good;
    if (IsHeldoutPlot(world, key) == (split == PlotSplit::kHeldout)) break;
  }
  Story story;
  story.topic = topic;
  story.heldout = split == PlotSplit::kHeldout;
  story.protagonist = protagonist;
  story.object = object;
  story.event = event;
  story.plot = key;
  const int32_t companion = rng.Below(static_cast<int32_t>(lex.animals.size()));
  const Lemma& thing = lex.topics[topic].nouns[object];
  const int32_t pronoun = lex.name_is_female[protagonist] ? lex.she : lex.he;
  const int32_t name = lex.names[protagonist];
  if (sentences == 0) sentences = o.story_sentences_min + rng.Below(o.story_sentences_max - o.story_sentences_min + 1);
  const bool reversal = sentences >= 4 && rng.Bernoulli(o.reversal_probability);
  const int fillers = sentences - 3 - (reversal ? 1 : 0);
  const int fillers_after_event = fillers > 0 && rng.Bernoulli(0.3) ? 1 : 0;

  auto sentence = [&]() { return SentenceBuilder(world, rng, topic); };
  {  // Intro: "mira <topic verb>s a kite ."
    SentenceBuilder sb = sentence();
    sb.Push(name);
    sb.Verb(sb.Pick(lex.topics[topic].verbs), false);
    sb.NounPhrase(thing, false, true);
    sb.Push(lex.period);
    story.sentences.push_back(std::move(sb.s));
  }
  for (int i = 0; i < fillers - fillers_after_event; ++i) {
    SentenceBuilder sb = sentence();
    sb.FreeSentence(protagonist, companion);
    story.sentences.push_back(std::move(sb.s));
  }
  auto event_sentence = [&](bool positive, int32_t opener) {
    SentenceBuilder sb = sentence();
    sb.Push(opener);
    sb.Push(rng.Bernoulli(0.5) ? name : pronoun);
    sb.Verb(positive ? lex.good_events[event] : lex.bad_events[event], false);
    sb.Push(lex.the);
    sb.Push(thing.sg);
    sb.Push(lex.period);
    story.sentences.push_back(std::move(sb.s));
  };
  event_sentence(good, lex.then);
  if (reversal) {
    good = !good;
    event_sentence(good, lex.but);
  }
  for (int i = 0; i < fillers_after_event; ++i) {
    SentenceBuilder sb = sentence();
    sb.FreeSentence(protagonist, companion);
    story.sentences.push_back(std::move(sb.s));
  }
  // Ending: its mood or reaction follows the last event; the contradiction flips it.
  // The ending answers the event: each event pair has its own mood and reaction pair (finds /
  // loses -> glad / sad, laughs / cries), and the last event's valence picks the side. A
  // specific association is what a small LM can pick up; the valence flip is what sSC tests.
  const int template_kind = rng.Below(4);
  const int32_t mood = event;
  const int32_t reaction = event;
  auto ending = [&](bool positive) {
    Sentence s;
    const int32_t m = positive ? lex.good_moods[mood] : lex.bad_moods[mood];
    const int32_t r = positive ? lex.good_reactions[reaction].sg : lex.bad_reactions[reaction].sg;
    switch (template_kind) {
      case 0: s.words = {lex.so, name, lex.is, m}; break;                               // so mira is glad
      case 1: s.words = {pronoun, r}; break;                                             // she laughs
      case 2: s.words = {name, lex.is, m, lex.about, lex.the, thing.sg}; break;          // mira is glad about the kite
      default: s.words = {lex.then, pronoun, r, lex.at, lex.the, thing.sg}; break;       // then she laughs at the kite
    }
    s.words.push_back(lex.period);
    return s;
  };
  story.ends_good = good;
  story.sentences.push_back(ending(good));
  story.contradicting_ending = ending(!good);
  return story;
}

Sentence SampleSentence(const World& world, Rng& rng, int max_words) {
  while (true) {
    const int32_t topic = rng.Below(static_cast<int32_t>(world.lexicon.topics.size()));
    SentenceBuilder sb(world, rng, topic);
    const int32_t protagonist = rng.Below(static_cast<int32_t>(world.lexicon.names.size()));
    sb.FreeSentence(protagonist, -1);
    const bool has_agreement_site = [&] {
      for (const Site& s : sb.s.sites) {
        if (s.kind != SiteKind::kWordOrder) return true;
      }
      return false;
    }();
    if (static_cast<int>(sb.s.words.size()) <= max_words && has_agreement_site) return sb.s;
  }
}

std::vector<int32_t> Violate(const Sentence& sentence, const Site& site) {
  std::vector<int32_t> words = sentence.words;
  if (site.kind == SiteKind::kWordOrder) {
    std::swap(words.at(site.position), words.at(site.position + 1));
  } else {
    words.at(site.position) = site.alternative;
  }
  return words;
}

std::string Spell(const Lexicon& lexicon, const std::vector<int32_t>& words) {
  std::string out;
  for (int32_t w : words) {
    if (!out.empty()) out += ' ';
    out += lexicon.forms[w].text;
  }
  return out;
}

}  // namespace sims::corpus
