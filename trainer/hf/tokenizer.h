#pragma once
// The byte-level BPE tokenizer of Hugging Face text LMs (Llama 3, Qwen2/2.5, GPT-2), read from
// their `tokenizer.json`, without torch or Python (sims_hf_io). Call BpeTokenizer::Load(path),
// then Encode / Decode. Used to tokenise raw text when importing real data for a checkpoint.
//
// What it implements, in the order the tokenizers library applies it:
//   1. added tokens (`added_tokens`) are cut out of the text first (leftmost, longest match);
//   2. normalizer: none, or NFC — which sims does NOT apply: input text must already be NFC
//      (LibriSpeech / LibriHeavy transcripts are; run `unicodedata.normalize("NFC", s)` otherwise);
//   3. pre-tokenisation by one of the known regexes, matched by hand (no regex engine): the
//      Llama-3 pattern (\p{N}{1,3}), the Qwen2 pattern (\p{N}), or GPT-2's (ByteLevel with
//      use_regex); \p{L} and \p{N} come from tables generated from Unicode (unicode_tables.inc);
//   4. the GPT-2 byte-to-unicode mapping, then BPE merges by rank (lowest rank first, leftmost
//      first on ties), with `ignore_merges` (Llama 3: a pre-token that is a vocab entry is kept).
// Anything else in the file (another pattern, byte_fallback, a WordPiece model, ...) is a
// UserError naming the key and the value found. Post-processors are ignored: Encode never adds
// BOS/EOS — the corpus importer adds the vocabulary's own markers.
// Parity: ids equal the tokenizers library's on tests/fixtures/hf/tokenizer_cases.json.
// Not thread-safe (Encode memoises words); use one instance per thread.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace sims::hf {

enum class PretokenizerPattern { kGpt2, kLlama3, kQwen2 };

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
};

class BpeTokenizer {
 public:
  // Reads a tokenizer.json; UserError naming the file and the key on anything unsupported.
  static BpeTokenizer Load(const std::string& path);
  // The same from the file's text; `origin` names it in errors.
  static BpeTokenizer FromJsonText(const std::string& text, const std::string& origin);

  // UTF-8 text -> ids. Added tokens in the text map to their ids. Invalid UTF-8 is a UserError.
  std::vector<int32_t> Encode(std::string_view text);
  // ids -> bytes (UTF-8 unless the ids cut a multi-byte character). Added tokens give their
  // content unless skip_special and they are special. An unknown id is a UserError.
  std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const;

  int32_t TokenToId(std::string_view token) const;  // -1 when absent (vocab or added)
  // The token's string as stored in tokenizer.json (byte-level mapped; "" for a gap id).
  const std::string& IdToToken(int32_t id) const;
  int32_t size() const { return static_cast<int32_t>(id_to_token_.size()); }  // max id + 1
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  PretokenizerPattern pattern() const { return pattern_; }

 private:
  static BpeTokenizer FromJson(const nlohmann::json& doc, const std::string& origin);
  void EncodeWord(std::string_view piece, std::vector<int32_t>& out);

  std::unordered_map<std::string, int32_t> vocab_;
  std::vector<std::string> id_to_token_;
  std::vector<bool> is_special_;
  // (left id, right id) -> (rank, merged id), keyed as left << 32 | right.
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges_;
  std::vector<AddedToken> added_;  // longest content first
  std::array<bool, 256> added_first_byte_{};  // cheap pre-check before comparing added tokens
  PretokenizerPattern pattern_ = PretokenizerPattern::kLlama3;
  bool ignore_merges_ = false;
  std::unordered_map<std::string, std::vector<int32_t>> cache_;  // pre-token -> ids
};

// Splits UTF-8 text into pre-tokens with the given pattern (exposed for tests).
std::vector<std::string_view> Pretokenize(std::string_view text, PretokenizerPattern pattern);

}  // namespace sims::hf
