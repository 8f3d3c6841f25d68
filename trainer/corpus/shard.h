#pragma once
// Token shards: one flat binary file of token ids plus a document index, written once by the
// corpus tools and memory-mapped by every worker. Write with ShardWriter, read with
// ShardReader::Open. The same format holds eval pair sets (kind kPairs, see pairs.h).
//
// File layout (format version 1, little-endian), documented in docs/corpus.md:
//   header, 64 bytes:
//     char[8] magic "SIMSSHRD" | u32 version (1) | u32 kind (1 stream, 2 pairs)
//     u32 dtype_bytes (2: uint16 when vocab_size <= 65536, else 4: uint32) | u32 vocab_size
//     u64 token_count | u64 document_count | char[16] vocab_hash (hex, not NUL-terminated)
//     u64 reserved (0)
//   tokens: token_count * dtype_bytes, then zero padding to a multiple of 8 bytes
//   index:  (document_count + 1) * u64 token offsets; document i is [index[i], index[i+1])
// The file size is fully determined by the header, so truncation is always detected.
//
// Stream shards: every document starts with vocab.bos and ends with vocab.eos (docs/corpus.md "File formats").
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sims::corpus {

inline constexpr uint32_t kShardVersion = 1;
enum class ShardKind : uint32_t { kStream = 1, kPairs = 2 };

// `<corpus>/<split>/<stream>.bin`; split is train|valid|test, stream is text|speech|interleaved.
std::string StreamShardPath(const std::string& corpus_dir, const std::string& split,
                            const std::string& stream);

// Writes to `<path>.tmp.<pid>` and renames onto `path` in Finish(), so a reader never sees a
// half-written shard; if Finish() is never called (an exception), the destructor deletes the
// temp file. Tokens must be in [0, vocab_size).
class ShardWriter {
 public:
  ShardWriter(std::string path, std::string vocab_hash, int32_t vocab_size,
              ShardKind kind = ShardKind::kStream);
  ~ShardWriter();
  ShardWriter(const ShardWriter&) = delete;
  ShardWriter& operator=(const ShardWriter&) = delete;

  void AddDocument(std::span<const int32_t> tokens);
  // Writes the index and header, flushes, renames into place. Call exactly once.
  void Finish();
  int64_t token_count() const { return token_count_; }
  int64_t document_count() const { return static_cast<int64_t>(offsets_.size()) - 1; }

 private:
  std::string path_, temp_path_, vocab_hash_;
  int32_t vocab_size_;
  ShardKind kind_;
  uint32_t dtype_bytes_;
  std::FILE* file_ = nullptr;
  int64_t token_count_ = 0;
  std::vector<uint64_t> offsets_{0};
  std::vector<unsigned char> buffer_;
};

struct DocumentSpan {
  int64_t begin = 0;  // token offset of the first token
  int64_t end = 0;    // one past the last token
  int64_t size() const { return end - begin; }
};

// A read-only memory map of one shard; movable, not copyable.
class ShardReader {
 public:
  // Throws UserError naming `path` and what is wrong: missing, not a sims shard (bad magic),
  // unsupported version, truncated or oversized (size differs from what the header implies),
  // corrupt index, or a vocab hash different from `expected_vocab_hash` (pass "" to skip).
  static ShardReader Open(const std::string& path, std::string_view expected_vocab_hash,
                          ShardKind expected_kind = ShardKind::kStream);
  ShardReader(ShardReader&& other) noexcept;
  ShardReader& operator=(ShardReader&& other) noexcept;
  ~ShardReader();

  int64_t size() const { return token_count_; }  // tokens in the file
  int64_t document_count() const { return document_count_; }
  DocumentSpan document(int64_t i) const;
  int32_t token(int64_t i) const;
  // Copies tokens [begin, begin + count) into out; the range must lie inside the file.
  void CopyTokens(int64_t begin, int64_t count, int64_t* out) const;
  std::vector<int32_t> Tokens(int64_t begin, int64_t count) const;
  std::vector<int32_t> DocumentTokens(int64_t i) const;
  const std::string& path() const { return path_; }
  const std::string& vocab_hash() const { return vocab_hash_; }
  int32_t vocab_size() const { return vocab_size_; }
  ShardKind kind() const { return kind_; }

 private:
  ShardReader() = default;
  std::string path_, vocab_hash_;
  const unsigned char* map_ = nullptr;
  size_t map_bytes_ = 0;
  const unsigned char* tokens_ = nullptr;
  const uint64_t* index_ = nullptr;
  uint32_t dtype_bytes_ = 2;
  int32_t vocab_size_ = 0;
  ShardKind kind_ = ShardKind::kStream;
  int64_t token_count_ = 0;
  int64_t document_count_ = 0;
};

}  // namespace sims::corpus
