#include "trainer/hf/safetensors.h"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/checked.h"
#include "common/error.h"

namespace sims::hf {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

static_assert(std::endian::native == std::endian::little,
              "safetensors is little-endian; sims reads it with plain memcpy");

// A real header is a few MB at most (Llama 3 405B: ~2 MB); anything larger is a wrong file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

File OpenOrThrow(const std::string& path, const char* mode) {
  File f(std::fopen(path.c_str(), mode));
  if (!f) throw UserError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  return f;
}

void ReadAt(const TensorInfo& t, void* out) {
  File f = OpenOrThrow(t.file, "rb");
  if (fseeko(f.get(), static_cast<off_t>(t.offset), SEEK_SET) != 0 ||
      std::fread(out, 1, t.bytes, f.get()) != t.bytes) {
    throw UserError(fmt::format("{}: tensor '{}': short read of {} bytes at offset {}", t.file,
                                t.name, t.bytes, t.offset));
  }
}

}  // namespace

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

const TensorInfo& Checkpoint::at(const std::string& name) const {
  auto it = tensors.find(name);
  if (it == tensors.end()) {
    throw UserError(fmt::format("checkpoint has no tensor '{}' ({} tensors present)", name,
                                tensors.size()));
  }
  return it->second;
}

int DtypeBytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64" || dtype == "U64") return 8;
  if (dtype == "F32" || dtype == "I32" || dtype == "U32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16" || dtype == "U16") return 2;
  if (dtype == "I8" || dtype == "U8" || dtype == "BOOL") return 1;
  throw UserError(fmt::format("unsupported safetensors dtype '{}'", dtype));
}

Checkpoint ReadSafetensorsHeader(const std::string& path) {
  File f = OpenOrThrow(path, "rb");
  const uint64_t file_bytes = fs::file_size(path);
  uint64_t header_bytes = 0;
  if (file_bytes < 8 || std::fread(&header_bytes, 8, 1, f.get()) != 1) {
    throw UserError(fmt::format("{}: not a safetensors file (shorter than 8 bytes)", path));
  }
  if (header_bytes > kMaxHeaderBytes || 8 + header_bytes > file_bytes) {
    throw UserError(fmt::format(
        "{}: not a safetensors file or truncated (header length {} but file size {})", path,
        header_bytes, file_bytes));
  }
  std::string text(header_bytes, '\0');
  if (std::fread(text.data(), 1, header_bytes, f.get()) != header_bytes) {
    throw UserError(fmt::format("{}: short read of the header", path));
  }
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!header.is_object()) {
    throw UserError(fmt::format("{}: the safetensors header is not a JSON object", path));
  }
  const uint64_t data_begin = 8 + header_bytes;
  const uint64_t data_bytes = file_bytes - data_begin;
  Checkpoint ckpt;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      for (auto& [k, v] : entry.items()) {
        if (v.is_string()) ckpt.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const auto bad = [&](const std::string& what) {
      return UserError(fmt::format("{}: tensor '{}': {}", path, name, what));
    };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
        !entry.contains("data_offsets")) {
      throw bad("entry needs dtype, shape and data_offsets");
    }
    TensorInfo t;
    t.name = name;
    t.file = path;
    if (!entry["dtype"].is_string()) {
      throw bad(fmt::format("dtype {} is not a string", entry["dtype"].dump()));
    }
    t.dtype = entry["dtype"].get<std::string>();
    if (!entry["shape"].is_array()) throw bad("shape must be an array of dimensions");
    // The element count must fit in int64 (a wrapped product could match the byte count).
    int64_t numel = 1;
    for (const json& d : entry["shape"]) {
      const std::optional<int64_t> dim = CheckedJsonInteger<int64_t>(d);
      if (!dim || *dim < 0 || __builtin_mul_overflow(numel, *dim, &numel)) {
        throw bad(fmt::format("shape {} has a bad dimension", entry["shape"].dump()));
      }
      t.shape.push_back(*dim);
    }
    const json& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2) throw bad("data_offsets must be [begin, end]");
    const std::optional<uint64_t> first = CheckedJsonInteger<uint64_t>(off[0]);
    const std::optional<uint64_t> last = CheckedJsonInteger<uint64_t>(off[1]);
    if (!first || !last) throw bad(fmt::format("data_offsets {} are not byte offsets", off.dump()));
    const uint64_t begin = *first, end = *last;
    if (begin > end || end > data_bytes) {
      throw bad(fmt::format("data_offsets [{}, {}] outside the {} data bytes (truncated file?)",
                            begin, end, data_bytes));
    }
    uint64_t element_bytes = 0;
    try {
      element_bytes = DtypeBytes(t.dtype);
    } catch (const UserError& e) {
      throw bad(e.what());
    }
    uint64_t expected = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(numel), element_bytes, &expected)) {
      throw bad(fmt::format("shape {} is too large", entry["shape"].dump()));
    }
    if (end - begin != expected) {
      throw bad(fmt::format("{} bytes but shape x {} needs {}", end - begin, t.dtype, expected));
    }
    t.offset = data_begin + begin;
    t.bytes = end - begin;
    if (t.bytes > 0) ranges.emplace_back(begin, end);
    ckpt.tensors.emplace(name, std::move(t));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i) {
    if (ranges[i].first < ranges[i - 1].second) {
      throw UserError(fmt::format("{}: two tensors share bytes at offset {}", path,
                                  ranges[i].first));
    }
  }
  return ckpt;
}

Checkpoint OpenCheckpoint(const std::string& path) {
  if (fs::is_regular_file(path)) return ReadSafetensorsHeader(path);
  const fs::path dir(path);
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(index_path)) {
    std::ifstream in(index_path);
    json index = json::parse(in, nullptr, /*allow_exceptions=*/false);
    if (!index.is_object() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
      throw UserError(fmt::format("{}: not a safetensors index (no \"weight_map\" object)",
                                  index_path.string()));
    }
    Checkpoint all;
    std::map<std::string, Checkpoint> shards;
    for (auto& [name, file] : index["weight_map"].items()) {
      const std::string shard = file.get<std::string>();
      auto it = shards.find(shard);
      if (it == shards.end()) {
        const fs::path shard_path = dir / shard;
        if (!fs::exists(shard_path)) {
          throw UserError(fmt::format("{}: lists shard '{}' for tensor '{}', which is missing",
                                      index_path.string(), shard, name));
        }
        it = shards.emplace(shard, ReadSafetensorsHeader(shard_path.string())).first;
        if (all.metadata.empty()) all.metadata = it->second.metadata;
      }
      if (!it->second.has(name)) {
        throw UserError(fmt::format("{}: tensor '{}' is mapped to '{}', which does not hold it",
                                    index_path.string(), name, shard));
      }
      all.tensors.emplace(name, it->second.at(name));
    }
    return all;
  }
  const fs::path single = dir / "model.safetensors";
  if (fs::exists(single)) return ReadSafetensorsHeader(single.string());
  throw UserError(fmt::format(
      "{}: no model.safetensors or model.safetensors.index.json\nhint: pass a Hugging Face "
      "model directory saved with safe_serialization (the default since transformers 4.35)",
      path));
}

float Bf16ToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

uint16_t FloatToBf16(float value) {
  uint32_t bits = std::bit_cast<uint32_t>(value);
  if ((bits & 0x7f800000u) == 0x7f800000u && (bits & 0x007fffffu) != 0) {
    return static_cast<uint16_t>((bits >> 16) | 0x40);  // quiet NaN stays NaN
  }
  bits += 0x7fffu + ((bits >> 16) & 1u);  // round to nearest, ties to even
  return static_cast<uint16_t>(bits >> 16);
}

float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exponent = (h >> 10) & 0x1fu;
  uint32_t mantissa = h & 0x3ffu;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);  // inf / NaN
  } else if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400u) == 0);
      bits = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3ffu) << 13;
    }
  } else {
    bits = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(bits);
}

std::vector<float> ReadFloats(const TensorInfo& t) {
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<float> out(n);
  if (t.dtype == "F32") {
    ReadAt(t, out.data());
  } else if (t.dtype == "BF16" || t.dtype == "F16") {
    std::vector<uint16_t> raw(n);
    ReadAt(t, raw.data());
    const bool bf16 = t.dtype == "BF16";
    for (size_t i = 0; i < n; ++i) out[i] = bf16 ? Bf16ToFloat(raw[i]) : F16ToFloat(raw[i]);
  } else if (t.dtype == "F64") {
    std::vector<double> raw(n);
    ReadAt(t, raw.data());
    for (size_t i = 0; i < n; ++i) out[i] = static_cast<float>(raw[i]);
  } else {
    throw UserError(fmt::format("{}: tensor '{}' has dtype {}, expected F32, F16, BF16 or F64",
                                t.file, t.name, t.dtype));
  }
  return out;
}

std::vector<int64_t> ReadInts(const TensorInfo& t) {
  const size_t n = static_cast<size_t>(t.numel());
  std::vector<int64_t> out(n);
  std::vector<unsigned char> raw(t.bytes);
  ReadAt(t, raw.data());
  const auto load = [&]<typename T>(T) {
    for (size_t i = 0; i < n; ++i) {
      T v;
      std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
      out[i] = static_cast<int64_t>(v);
    }
  };
  if (t.dtype == "I64") load(int64_t{});
  else if (t.dtype == "I32") load(int32_t{});
  else if (t.dtype == "I16") load(int16_t{});
  else if (t.dtype == "I8") load(int8_t{});
  else if (t.dtype == "U8") load(uint8_t{});
  else {
    throw UserError(fmt::format("{}: tensor '{}' has dtype {}, expected an integer dtype",
                                t.file, t.name, t.dtype));
  }
  return out;
}

void WriteSafetensors(const std::string& path, std::span<const TensorToWrite> tensors,
                      const std::string& dtype, const std::map<std::string, std::string>& metadata) {
  if (dtype != "F32" && dtype != "BF16") {
    throw UserError(fmt::format("{}: can write F32 or BF16, not '{}'", path, dtype));
  }
  const uint64_t elem = DtypeBytes(dtype);
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const TensorToWrite& t : tensors) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    if (static_cast<size_t>(n) != t.values.size()) {
      throw std::invalid_argument(fmt::format("WriteSafetensors: tensor '{}' has {} values for "
                                              "{} elements", t.name, t.values.size(), n));
    }
    header[t.name] = {{"dtype", dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + n * elem}}};
    offset += n * elem;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // data starts 8-aligned
  const std::string temp = fmt::format("{}.tmp.{}", path, ::getpid());
  {
    File f = OpenOrThrow(temp, "wb");
    const uint64_t n = text.size();
    bool ok = std::fwrite(&n, 8, 1, f.get()) == 1 &&
              std::fwrite(text.data(), 1, text.size(), f.get()) == text.size();
    std::vector<uint16_t> half;
    for (const TensorToWrite& t : tensors) {
      if (!ok) break;
      if (dtype == "F32") {
        ok = std::fwrite(t.values.data(), 4, t.values.size(), f.get()) == t.values.size();
      } else {
        half.resize(t.values.size());
        for (size_t i = 0; i < half.size(); ++i) half[i] = FloatToBf16(t.values[i]);
        ok = std::fwrite(half.data(), 2, half.size(), f.get()) == half.size();
      }
    }
    ok = ok && std::fflush(f.get()) == 0;
    if (!ok) {
      std::error_code ignored;  // the write error below is the one to report
      fs::remove(temp, ignored);
      throw UserError(fmt::format("{}: write failed: {}", path, std::strerror(errno)));
    }
  }
  fs::rename(temp, path);
}

}  // namespace sims::hf
