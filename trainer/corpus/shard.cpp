#include "trainer/corpus/shard.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "common/error.h"
#include "trainer/corpus/atomic_file.h"

namespace sims::corpus {
namespace {

constexpr char kMagic[8] = {'S', 'I', 'M', 'S', 'S', 'H', 'R', 'D'};
constexpr size_t kHeaderBytes = 64;

// The on-disk header; every field is fixed-width and the struct has no padding (static_assert),
// so it is written and read as bytes on little-endian machines (x86-64, aarch64).
struct Header {
  char magic[8];
  uint32_t version;
  uint32_t kind;
  uint32_t dtype_bytes;
  uint32_t vocab_size;
  uint64_t token_count;
  uint64_t document_count;
  char vocab_hash[16];
  uint64_t reserved;
};
static_assert(sizeof(Header) == kHeaderBytes);

uint64_t PaddedTokenBytes(uint64_t tokens, uint32_t dtype_bytes) {
  return (tokens * dtype_bytes + 7) / 8 * 8;
}

const char* KindName(ShardKind kind) {
  return kind == ShardKind::kPairs ? "an eval pair set" : "a stream shard";
}

}  // namespace

std::string StreamShardPath(const std::string& corpus_dir, const std::string& split,
                            const std::string& stream) {
  return (std::filesystem::path(corpus_dir) / split / (stream + ".bin")).string();
}

// ---- writer ----

ShardWriter::ShardWriter(std::string path, std::string vocab_hash, int32_t vocab_size,
                         ShardKind kind)
    : path_(std::move(path)),
      temp_path_(TempPathFor(path_)),
      vocab_hash_(std::move(vocab_hash)),
      vocab_size_(vocab_size),
      kind_(kind),
      dtype_bytes_(vocab_size <= 65536 ? 2 : 4) {
  if (vocab_hash_.size() != 16) {
    throw UserError(fmt::format("shard {}: vocab hash '{}' is not 16 hex chars", path_,
                                vocab_hash_));
  }
  file_ = std::fopen(temp_path_.c_str(), "wb");
  if (file_ == nullptr) {
    throw UserError(fmt::format("cannot create {}: {}", temp_path_, std::strerror(errno)));
  }
  // Placeholder header; the real one is written by Finish() once the counts are known.
  const char zeros[kHeaderBytes] = {};
  std::fwrite(zeros, 1, kHeaderBytes, file_);
}

ShardWriter::~ShardWriter() {
  if (file_ != nullptr) {  // Finish() never ran: leave nothing half-written behind.
    std::fclose(file_);
    std::remove(temp_path_.c_str());
  }
}

void ShardWriter::AddDocument(std::span<const int32_t> tokens) {
  buffer_.resize(tokens.size() * dtype_bytes_);
  unsigned char* out = buffer_.data();
  for (int32_t t : tokens) {
    if (t < 0 || t >= vocab_size_) {
      throw UserError(fmt::format("shard {}: token id {} is outside [0, {}) in document {}",
                                  path_, t, vocab_size_, document_count()));
    }
    const uint32_t u = static_cast<uint32_t>(t);
    std::memcpy(out, &u, dtype_bytes_);  // little-endian: the low bytes come first
    out += dtype_bytes_;
  }
  if (!buffer_.empty() && std::fwrite(buffer_.data(), 1, buffer_.size(), file_) != buffer_.size()) {
    throw UserError(fmt::format("cannot write {} (disk full?)", temp_path_));
  }
  token_count_ += static_cast<int64_t>(tokens.size());
  offsets_.push_back(static_cast<uint64_t>(token_count_));
}

void ShardWriter::Finish() {
  if (file_ == nullptr) throw std::logic_error("ShardWriter::Finish called twice: " + path_);
  const uint64_t token_bytes = static_cast<uint64_t>(token_count_) * dtype_bytes_;
  const char zeros[8] = {};
  const uint64_t pad = PaddedTokenBytes(token_count_, dtype_bytes_) - token_bytes;
  bool ok = std::fwrite(zeros, 1, pad, file_) == pad;
  ok = ok && std::fwrite(offsets_.data(), sizeof(uint64_t), offsets_.size(), file_) ==
                 offsets_.size();
  Header h{};
  std::memcpy(h.magic, kMagic, 8);
  h.version = kShardVersion;
  h.kind = static_cast<uint32_t>(kind_);
  h.dtype_bytes = dtype_bytes_;
  h.vocab_size = static_cast<uint32_t>(vocab_size_);
  h.token_count = static_cast<uint64_t>(token_count_);
  h.document_count = offsets_.size() - 1;
  std::memcpy(h.vocab_hash, vocab_hash_.data(), 16);
  ok = ok && std::fseek(file_, 0, SEEK_SET) == 0;
  ok = ok && std::fwrite(&h, 1, sizeof h, file_) == sizeof h;
  ok = ok && std::fflush(file_) == 0;
  ok = ok && ::fsync(::fileno(file_)) == 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  if (!ok) {
    std::remove(temp_path_.c_str());
    throw UserError(fmt::format("cannot write {} (disk full?)", temp_path_));
  }
  CommitTempFile(temp_path_, path_);
}

// ---- reader ----

ShardReader ShardReader::Open(const std::string& path, std::string_view expected_vocab_hash,
                              ShardKind expected_kind) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    throw UserError(fmt::format("cannot open shard {}: {}", path, std::strerror(errno)));
  }
  struct stat st {};
  ::fstat(fd, &st);
  const auto file_bytes = static_cast<uint64_t>(st.st_size);
  ShardReader r;
  r.path_ = path;
  auto fail = [&](const std::string& what) {
    ::close(fd);
    throw UserError(fmt::format("shard {}: {}", path, what));
  };
  Header h{};
  if (file_bytes < kHeaderBytes) {
    fail(fmt::format("truncated: {} bytes, shorter than the {}-byte header", file_bytes,
                     kHeaderBytes));
  }
  if (::pread(fd, &h, sizeof h, 0) != static_cast<ssize_t>(sizeof h)) fail("cannot read header");
  if (std::memcmp(h.magic, kMagic, 8) != 0) {
    fail("not a sims shard (bad magic); hint: shards are written by `sims corpus generate` or "
         "`sims corpus import`");
  }
  if (h.version != kShardVersion) {
    fail(fmt::format("format version {} is not supported (this build reads {})", h.version,
                     kShardVersion));
  }
  if (h.dtype_bytes != 2 && h.dtype_bytes != 4) {
    fail(fmt::format("corrupt header: dtype of {} bytes", h.dtype_bytes));
  }
  if (h.kind != static_cast<uint32_t>(expected_kind)) {
    fail(fmt::format("is {}, expected {}",
                     h.kind == 2 ? "an eval pair set" : (h.kind == 1 ? "a stream shard" : "unknown"),
                     KindName(expected_kind)));
  }
  r.vocab_hash_.assign(h.vocab_hash, 16);
  if (!expected_vocab_hash.empty() && r.vocab_hash_ != expected_vocab_hash) {
    fail(fmt::format("vocabulary hash {} does not match the corpus vocabulary {}; hint: the shard "
                     "comes from another corpus, regenerate it",
                     r.vocab_hash_, expected_vocab_hash));
  }
  const uint64_t expected_bytes = kHeaderBytes + PaddedTokenBytes(h.token_count, h.dtype_bytes) +
                                  (h.document_count + 1) * sizeof(uint64_t);
  if (file_bytes != expected_bytes) {
    fail(fmt::format("{}: {} bytes, but its header ({} tokens, {} documents) implies {}",
                     file_bytes < expected_bytes ? "truncated" : "has trailing bytes", file_bytes,
                     h.token_count, h.document_count, expected_bytes));
  }
  void* map = ::mmap(nullptr, file_bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) fail(fmt::format("mmap failed: {}", std::strerror(errno)));
  ::close(fd);  // the mapping stays valid after close
  r.map_ = static_cast<const unsigned char*>(map);
  r.map_bytes_ = file_bytes;
  r.tokens_ = r.map_ + kHeaderBytes;
  r.index_ = reinterpret_cast<const uint64_t*>(
      r.map_ + kHeaderBytes + PaddedTokenBytes(h.token_count, h.dtype_bytes));
  r.dtype_bytes_ = h.dtype_bytes;
  r.vocab_size_ = static_cast<int32_t>(h.vocab_size);
  r.kind_ = expected_kind;
  r.token_count_ = static_cast<int64_t>(h.token_count);
  r.document_count_ = static_cast<int64_t>(h.document_count);
  // The index must be monotone from 0 to token_count: a cheap, complete check (8 bytes/document).
  bool monotone = r.index_[0] == 0 && r.index_[h.document_count] == h.token_count;
  for (uint64_t i = 0; monotone && i < h.document_count; ++i) {
    monotone = r.index_[i] <= r.index_[i + 1];
  }
  if (!monotone) {
    throw UserError(fmt::format("shard {}: corrupt document index (offsets not increasing from 0 "
                                "to {})",
                                path, h.token_count));
  }
  return r;
}

ShardReader::ShardReader(ShardReader&& o) noexcept { *this = std::move(o); }

ShardReader& ShardReader::operator=(ShardReader&& o) noexcept {
  if (this != &o) {
    if (map_ != nullptr) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
    path_ = std::move(o.path_);
    vocab_hash_ = std::move(o.vocab_hash_);
    map_ = o.map_;
    map_bytes_ = o.map_bytes_;
    tokens_ = o.tokens_;
    index_ = o.index_;
    dtype_bytes_ = o.dtype_bytes_;
    vocab_size_ = o.vocab_size_;
    kind_ = o.kind_;
    token_count_ = o.token_count_;
    document_count_ = o.document_count_;
    o.map_ = nullptr;
    o.map_bytes_ = 0;
  }
  return *this;
}

ShardReader::~ShardReader() {
  if (map_ != nullptr) ::munmap(const_cast<unsigned char*>(map_), map_bytes_);
}

DocumentSpan ShardReader::document(int64_t i) const {
  if (i < 0 || i >= document_count_) {
    throw std::out_of_range(fmt::format("shard {}: document {} of {}", path_, i, document_count_));
  }
  return {static_cast<int64_t>(index_[i]), static_cast<int64_t>(index_[i + 1])};
}

int32_t ShardReader::token(int64_t i) const {
  if (dtype_bytes_ == 2) {
    uint16_t v;
    std::memcpy(&v, tokens_ + i * 2, 2);
    return v;
  }
  uint32_t v;
  std::memcpy(&v, tokens_ + i * 4, 4);
  return static_cast<int32_t>(v);
}

void ShardReader::CopyTokens(int64_t begin, int64_t count, int64_t* out) const {
  if (begin < 0 || count < 0 || begin + count > token_count_) {
    throw std::out_of_range(fmt::format("shard {}: tokens [{}, {}) outside [0, {})", path_, begin,
                                        begin + count, token_count_));
  }
  if (dtype_bytes_ == 2) {
    const unsigned char* p = tokens_ + begin * 2;
    for (int64_t i = 0; i < count; ++i) {
      uint16_t v;
      std::memcpy(&v, p + i * 2, 2);
      out[i] = v;
    }
  } else {
    const unsigned char* p = tokens_ + begin * 4;
    for (int64_t i = 0; i < count; ++i) {
      uint32_t v;
      std::memcpy(&v, p + i * 4, 4);
      out[i] = v;
    }
  }
}

std::vector<int32_t> ShardReader::Tokens(int64_t begin, int64_t count) const {
  std::vector<int64_t> wide(static_cast<size_t>(count));
  CopyTokens(begin, count, wide.data());
  return std::vector<int32_t>(wide.begin(), wide.end());
}

std::vector<int32_t> ShardReader::DocumentTokens(int64_t i) const {
  const DocumentSpan d = document(i);
  return Tokens(d.begin, d.size());
}

}  // namespace sims::corpus
