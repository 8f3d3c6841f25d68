#include "trainer/hf/tokenizer.h"

#include <algorithm>
#include <array>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/checked.h"
#include "common/error.h"
#include "common/files.h"

namespace sims::hf {
namespace {

using nlohmann::json;

struct CodepointRange {
  char32_t first, last;
};
#include "trainer/hf/unicode_tables.inc"

// The regexes exactly as they appear in the published tokenizer.json files.
constexpr std::string_view kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
constexpr std::string_view kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

bool InRanges(char32_t c, std::span<const CodepointRange> ranges) {
  auto it = std::upper_bound(ranges.begin(), ranges.end(), c,
                             [](char32_t v, const CodepointRange& r) { return v < r.first; });
  return it != ranges.begin() && c <= std::prev(it)->last;
}
bool IsLetter(char32_t c) {
  if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
  return InRanges(c, kLetterRanges);
}
bool IsNumber(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return InRanges(c, kNumberRanges);
}
// \s in Oniguruma / Rust regex with Unicode: the White_Space property.
bool IsSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}
bool IsNewline(char32_t c) { return c == '\r' || c == '\n'; }
bool IsPunct(char32_t c) { return !IsSpace(c) && !IsLetter(c) && !IsNumber(c); }  // [^\s\p{L}\p{N}]
char32_t AsciiLower(char32_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Decodes UTF-8; `starts` gets the byte offset of every code point plus the end.
std::vector<char32_t> DecodeUtf8(std::string_view s, std::vector<size_t>& starts) {
  std::vector<char32_t> cps;
  cps.reserve(s.size());
  starts.clear();
  size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    int len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      throw UserError(fmt::format("tokenizer: invalid UTF-8 at byte {} of the text", i));
    }
    char32_t c = len == 1 ? b : b & (0x7f >> len);
    for (int k = 1; k < len; ++k) {
      const auto cont = static_cast<unsigned char>(s[i + k]);
      if ((cont >> 6) != 2) {
        throw UserError(fmt::format("tokenizer: invalid UTF-8 at byte {} of the text", i + k));
      }
      c = (c << 6) | (cont & 0x3f);
    }
    starts.push_back(i);
    cps.push_back(c);
    i += len;
  }
  starts.push_back(s.size());
  return cps;
}

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (c & 0x3f));
  }
}

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100.. in order.
std::array<char32_t, 256> ByteToChar() {
  std::array<char32_t, 256> table{};
  char32_t next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    table[b] = printable ? static_cast<char32_t>(b) : next++;
  }
  return table;
}
const std::array<char32_t, 256> kByteToChar = ByteToChar();

int CharToByte(char32_t c) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    for (int b = 0; b < 256; ++b) m[kByteToChar[b]] = b;
    return m;
  }();
  auto it = inverse.find(c);
  return it == inverse.end() ? -1 : it->second;
}

// One alternative-by-alternative match of the pattern at cps[i] (leftmost-first, as the
// backtracking engines do); returns the end index (> i). Every code point is covered by some
// alternative, so a match always exists.
size_t MatchAt(const std::vector<char32_t>& cps, size_t i, PretokenizerPattern pattern) {
  const size_t n = cps.size();
  const char32_t c = cps[i];
  const bool gpt2 = pattern == PretokenizerPattern::kGpt2;
  const auto run = [&](size_t j, auto pred) {
    while (j < n && pred(cps[j])) ++j;
    return j;
  };
  // 's|'t|'re|'ve|'m|'ll|'d   (case-insensitive except in GPT-2)
  if (c == '\'' && i + 1 < n) {
    const auto low = [&](char32_t x) { return gpt2 ? x : AsciiLower(x); };
    const char32_t a = low(cps[i + 1]);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if (i + 2 < n) {
      const char32_t b = low(cps[i + 2]);
      if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    }
  }
  if (gpt2) {
    // ' ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+'
    const size_t j = (c == ' ' && i + 1 < n) ? i + 1 : i;
    if (j < n && IsLetter(cps[j])) return run(j, IsLetter);
    if (j < n && IsNumber(cps[j])) return run(j, IsNumber);
    if (j < n && IsPunct(cps[j])) return run(j, IsPunct);
  } else {
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if (!IsNewline(c) && !IsLetter(c) && !IsNumber(c) && i + 1 < n && IsLetter(cps[i + 1])) {
      return run(i + 1, IsLetter);
    }
    if (IsLetter(c)) return run(i, IsLetter);
    // \p{N}{1,3} (Llama 3) | \p{N} (Qwen2)
    if (IsNumber(c)) {
      const size_t limit = pattern == PretokenizerPattern::kLlama3 ? 3 : 1;
      size_t j = i;
      while (j < n && j - i < limit && IsNumber(cps[j])) ++j;
      return j;
    }
    //  ?[^\s\p{L}\p{N}]+[\r\n]*
    const size_t j = (c == ' ') ? i + 1 : i;
    if (j < n && IsPunct(cps[j])) return run(run(j, IsPunct), IsNewline);
    // \s*[\r\n]+ : ends after the last newline inside the whitespace run
    const size_t space_end = run(i, IsSpace);
    for (size_t p = space_end; p > i; --p) {
      if (IsNewline(cps[p - 1])) return p;
    }
  }
  // \s+(?!\S) | \s+
  const size_t space_end = run(i, IsSpace);
  if (space_end > i) {
    if (space_end == n || space_end - 1 == i) return space_end;
    return space_end - 1;
  }
  return i + 1;  // unreachable with these patterns; keeps the loop total
}

std::string ReadFile(const std::string& path) {
  try {
    return ReadWholeFile(path);
  } catch (const UserError&) {
    throw UserError(fmt::format("{}: cannot read the tokenizer file\nhint: pass the "
                                "tokenizer.json of the Hugging Face checkpoint", path));
  }
}

}  // namespace

std::vector<std::string_view> Pretokenize(std::string_view text, PretokenizerPattern pattern) {
  std::vector<size_t> starts;
  const std::vector<char32_t> cps = DecodeUtf8(text, starts);
  std::vector<std::string_view> pieces;
  for (size_t i = 0; i < cps.size();) {
    const size_t end = MatchAt(cps, i, pattern);
    pieces.push_back(text.substr(starts[i], starts[end] - starts[i]));
    i = end;
  }
  return pieces;
}

BpeTokenizer BpeTokenizer::Load(const std::string& path) {
  return FromJsonText(ReadFile(path), path);
}

BpeTokenizer BpeTokenizer::FromJsonText(const std::string& text, const std::string& origin) {
  // Every field access below may meet a value of another type (a string where an id belongs);
  // nlohmann's type_error then becomes a UserError naming the file instead of an internal error.
  try {
    return FromJson(json::parse(text, nullptr, /*allow_exceptions=*/false), origin);
  } catch (const json::exception& e) {
    throw UserError(fmt::format("{}: a field has the wrong type or is missing: {}\nhint: sims "
                                "reads the byte-level BPE tokenizers of Llama 3, Qwen2/2.5 and "
                                "GPT-2",
                                origin, e.what()));
  }
}

BpeTokenizer BpeTokenizer::FromJson(const nlohmann::json& doc, const std::string& origin) {
  const auto fail = [&](const std::string& key, const std::string& what) {
    return UserError(fmt::format("{}: {}: {}\nhint: sims reads the byte-level BPE tokenizers of "
                                 "Llama 3, Qwen2/2.5 and GPT-2", origin, key, what));
  };
  if (!doc.is_object()) throw fail("(file)", "not a JSON object");
  BpeTokenizer tok;

  // normalizer: none or NFC (assumed already applied; see the header).
  const json& norm = doc.value("normalizer", json());
  if (!norm.is_null() && norm.value("type", "") != "NFC") {
    throw fail("normalizer", fmt::format("unsupported {}", norm.dump()));
  }

  // pre_tokenizer: Sequence[Split(known regex, Isolated), ByteLevel(use_regex=false)] or
  // ByteLevel(use_regex=true) alone (GPT-2).
  const json& pre = doc.value("pre_tokenizer", json());
  const auto check_byte_level = [&](const json& bl, bool want_regex) {
    if (bl.value("type", "") != "ByteLevel" || bl.value("use_regex", true) != want_regex ||
        bl.value("add_prefix_space", false)) {
      throw fail("pre_tokenizer", fmt::format("expected ByteLevel(use_regex={}, "
                                              "add_prefix_space=false), found {}",
                                              want_regex, bl.dump()));
    }
  };
  if (pre.value("type", "") == "Sequence" && pre.value("pretokenizers", json()).is_array() &&
      pre.value("pretokenizers", json()).size() == 2) {
    const json& split = pre.at("pretokenizers").at(0);  // at(): operator[] on const is unchecked
    check_byte_level(pre.at("pretokenizers").at(1), false);
    const std::string regex = split.value("pattern", json::object()).value("Regex", "");
    if (split.value("type", "") != "Split" || split.value("behavior", "") != "Isolated" ||
        split.value("invert", false)) {
      throw fail("pre_tokenizer", fmt::format("expected Split(Isolated), found {}", split.dump()));
    }
    if (regex == kLlama3Regex) {
      tok.pattern_ = PretokenizerPattern::kLlama3;
    } else if (regex == kQwen2Regex) {
      tok.pattern_ = PretokenizerPattern::kQwen2;
    } else {
      throw fail("pre_tokenizer.pretokenizers[0].pattern.Regex",
                 fmt::format("unknown pattern {:?}", regex));
    }
  } else if (pre.value("type", "") == "ByteLevel") {
    check_byte_level(pre, true);
    tok.pattern_ = PretokenizerPattern::kGpt2;
  } else {
    throw fail("pre_tokenizer", fmt::format("unsupported {}", pre.dump()));
  }

  const json& model = doc.value("model", json());
  if (model.value("type", "BPE") != "BPE" || !model.contains("vocab")) {
    throw fail("model.type", fmt::format("expected a BPE model, found {}",
                                         model.value("type", std::string("nothing"))));
  }
  if (model.value("byte_fallback", false)) throw fail("model.byte_fallback", "true is unsupported");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix", "dropout"}) {
    const json& v = model.value(key, json());
    if (!v.is_null() && !(v.is_string() && v.get<std::string>().empty())) {
      throw fail(std::string("model.") + key, fmt::format("{} is unsupported", v.dump()));
    }
  }
  tok.ignore_merges_ = model.value("ignore_merges", false);

  // Ids index the id -> token table, so they are range-checked (a negative one wrote before
  // the table; 2^31 - 1 allocated 64 GB). Real vocabularies have at most a few 100k ids.
  constexpr int32_t kMaxTokenId = 1 << 22;
  const auto token_id = [&](const json& id, const std::string& key) {
    const std::optional<int32_t> value = CheckedJsonInteger<int32_t>(id);
    if (!value || *value < 0 || *value >= kMaxTokenId) {
      throw fail(key, fmt::format("id {} is not in [0, {})", id.dump(), kMaxTokenId));
    }
    return *value;
  };
  if (!model.at("vocab").is_object()) throw fail("model.vocab", "not an object {token: id}");
  int32_t size = 0;
  for (auto& [token, id] : model.at("vocab").items()) {
    const int32_t value = token_id(id, "model.vocab." + token);
    tok.vocab_.emplace(token, value);
    size = std::max(size, value + 1);
  }
  for (const json& a : doc.value("added_tokens", json::array())) {
    AddedToken t{token_id(a.at("id"), "added_tokens"), a.at("content").get<std::string>(),
                 a.value("special", false)};
    if (a.value("lstrip", false) || a.value("rstrip", false) || a.value("single_word", false)) {
      throw fail("added_tokens", fmt::format("'{}' uses lstrip/rstrip/single_word, which sims "
                                             "does not implement", t.content));
    }
    size = std::max(size, t.id + 1);
    tok.added_.push_back(std::move(t));
  }
  std::stable_sort(tok.added_.begin(), tok.added_.end(), [](const auto& a, const auto& b) {
    return a.content.size() > b.content.size();
  });
  tok.id_to_token_.assign(size, "");
  tok.is_special_.assign(size, false);
  for (const auto& [token, id] : tok.vocab_) tok.id_to_token_[id] = token;
  for (const AddedToken& t : tok.added_) {
    tok.id_to_token_[t.id] = t.content;
    tok.is_special_[t.id] = t.special;
    if (!t.content.empty()) tok.added_first_byte_[static_cast<unsigned char>(t.content[0])] = true;
  }

  // merges: ["a b", ...] (tokenizers < 0.20) or [["a", "b"], ...].
  int32_t rank = 0;
  for (const json& m : model.value("merges", json::array())) {
    std::string left, right;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t space = s.find(' ');
      if (space == std::string::npos) throw fail("model.merges", fmt::format("bad merge {:?}", s));
      left = s.substr(0, space);
      right = s.substr(space + 1);
    } else {
      left = m.at(0).get<std::string>();
      right = m.at(1).get<std::string>();
    }
    const int32_t l = tok.TokenToId(left), r = tok.TokenToId(right);
    const int32_t merged = tok.TokenToId(left + right);
    if (l < 0 || r < 0 || merged < 0) {
      throw fail("model.merges", fmt::format("merge {:?} + {:?} names a token not in the vocab",
                                             left, right));
    }
    tok.merges_.emplace((static_cast<uint64_t>(l) << 32) | static_cast<uint32_t>(r),
                        std::make_pair(rank++, merged));
  }
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    AppendUtf8(ch, kByteToChar[b]);
    if (tok.TokenToId(ch) < 0) {
      throw fail("model.vocab", fmt::format("byte {} ({:?}) has no token: not a byte-level BPE "
                                            "vocabulary", b, ch));
    }
  }
  return tok;
}

int32_t BpeTokenizer::TokenToId(std::string_view token) const {
  auto it = vocab_.find(std::string(token));
  if (it != vocab_.end()) return it->second;
  for (const AddedToken& t : added_) {
    if (t.content == token) return t.id;
  }
  return -1;
}

const std::string& BpeTokenizer::IdToToken(int32_t id) const {
  if (id < 0 || id >= size()) {
    throw UserError(fmt::format("tokenizer: id {} outside [0, {})", id, size()));
  }
  return id_to_token_[id];
}

void BpeTokenizer::EncodeWord(std::string_view piece, std::vector<int32_t>& out) {
  std::string mapped;
  for (unsigned char b : piece) AppendUtf8(mapped, kByteToChar[b]);
  if (auto hit = cache_.find(mapped); hit != cache_.end()) {
    out.insert(out.end(), hit->second.begin(), hit->second.end());
    return;
  }
  std::vector<int32_t> symbols;
  if (auto whole = vocab_.find(mapped); ignore_merges_ && whole != vocab_.end()) {
    symbols.push_back(whole->second);
  } else {
    std::string ch;
    for (unsigned char b : piece) {
      ch.clear();
      AppendUtf8(ch, kByteToChar[b]);
      symbols.push_back(vocab_.at(ch));  // every byte has a token (checked at load)
    }
    // Merge the lowest-rank adjacent pair, leftmost on ties, until none applies. Words are
    // short (a pre-token), so the quadratic scan is cheaper than a heap.
    while (symbols.size() > 1) {
      int32_t best_rank = std::numeric_limits<int32_t>::max(), best_merged = -1;
      size_t best = 0;
      for (size_t k = 0; k + 1 < symbols.size(); ++k) {
        auto it = merges_.find((static_cast<uint64_t>(symbols[k]) << 32) |
                               static_cast<uint32_t>(symbols[k + 1]));
        if (it != merges_.end() && it->second.first < best_rank) {
          best_rank = it->second.first;
          best_merged = it->second.second;
          best = k;
        }
      }
      if (best_merged < 0) break;
      symbols[best] = best_merged;
      symbols.erase(symbols.begin() + static_cast<std::ptrdiff_t>(best) + 1);
    }
  }
  out.insert(out.end(), symbols.begin(), symbols.end());
  // Bounded memo: a corpus has a heavy-tailed set of distinct words; 1M entries is ~100 MB.
  if (cache_.size() >= 1'000'000) cache_.clear();
  cache_.emplace(std::move(mapped), std::move(symbols));
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text) {
  std::vector<int32_t> ids;
  size_t segment_begin = 0;
  const auto flush = [&](size_t end) {
    for (std::string_view piece : Pretokenize(text.substr(segment_begin, end - segment_begin),
                                              pattern_)) {
      EncodeWord(piece, ids);
    }
  };
  for (size_t i = 0; i < text.size();) {
    if (!added_first_byte_[static_cast<unsigned char>(text[i])]) {
      ++i;
      continue;
    }
    const AddedToken* hit = nullptr;
    for (const AddedToken& t : added_) {  // longest first
      if (!t.content.empty() && text.compare(i, t.content.size(), t.content) == 0) {
        hit = &t;
        break;
      }
    }
    if (hit == nullptr) {
      ++i;
      continue;
    }
    flush(i);
    ids.push_back(hit->id);
    i += hit->content.size();
    segment_begin = i;
  }
  flush(text.size());
  return ids;
}

std::string BpeTokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  std::vector<size_t> starts;
  for (int32_t id : ids) {
    const std::string& token = IdToToken(id);
    if (is_special_[id] || vocab_.find(token) == vocab_.end()) {  // an added token
      if (!(skip_special && is_special_[id])) out += token;
      continue;
    }
    for (char32_t c : DecodeUtf8(token, starts)) {
      const int b = CharToByte(c);
      if (b < 0) throw UserError(fmt::format("tokenizer: token {} ({:?}) is not byte-level", id, token));
      out += static_cast<char>(b);
    }
  }
  return out;
}

}  // namespace sims::hf
